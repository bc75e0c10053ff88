#!/usr/bin/env bash
# Entrypoint of neodev-test/postgres:15. It follows the interface of the official postgres
# image (docker-library/postgres) so the same compose settings work with either image:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default = user), POSTGRES_INITDB_ARGS,
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), *_FILE variants, PGDATA,
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz on first initialisation only.
set -Eeuo pipefail

# VAR_FILE=/path -> VAR=<content of the file> (Docker secrets).
file_env() {
    local var="$1" file_var="${1}_FILE" def="${2:-}"
    if [[ -n "${!var:-}" && -n "${!file_var:-}" ]]; then
        echo "error: both $var and $file_var are set (but are exclusive)" >&2
        exit 1
    fi
    local val="$def"
    if [[ -n "${!var:-}" ]]; then
        val="${!var}"
    elif [[ -n "${!file_var:-}" ]]; then
        val="$(< "${!file_var}")"
    fi
    export "$var"="$val"
    unset "$file_var"
}

setup_env() {
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
    export POSTGRES_HOST_AUTH_METHOD
    DATABASE_ALREADY_EXISTS=
    if [[ -s "$PGDATA/PG_VERSION" ]]; then
        DATABASE_ALREADY_EXISTS=true
    fi
}

# As root: create the directories with the right owner (a fresh bind mount is root's).
create_dirs_as_root() {
    mkdir -p "$PGDATA" /var/run/postgresql
    chmod 00700 "$PGDATA"
    chmod 03775 /var/run/postgresql
    find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
    chown postgres:postgres "$(dirname "$PGDATA")"
}

verify_minimum_env() {
    if [[ -z "$POSTGRES_PASSWORD" && "$POSTGRES_HOST_AUTH_METHOD" != trust ]]; then
        cat >&2 <<'EOM'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".

       You may also use "POSTGRES_HOST_AUTH_METHOD=trust" to allow all
       connections without a password. This is *not* recommended.
EOM
        exit 1
    fi
    if [[ "$POSTGRES_HOST_AUTH_METHOD" == trust ]]; then
        echo "WARNING: POSTGRES_HOST_AUTH_METHOD=trust: every connection is accepted without a password" >&2
    fi
}

init_database_dir() {
    local pwfile
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    local -a extra=()
    # Word splitting is intended: POSTGRES_INITDB_ARGS is a list of options.
    # shellcheck disable=SC2206
    extra=($POSTGRES_INITDB_ARGS)
    if [[ -n "$POSTGRES_PASSWORD" ]]; then
        initdb --username="$POSTGRES_USER" --pwfile="$pwfile" "${extra[@]}"
    else
        initdb --username="$POSTGRES_USER" "${extra[@]}"
    fi
    rm -f "$pwfile"
}

setup_hba() {
    # initdb's defaults keep local (socket and loopback) connections trusted, as in the official
    # image; everything else - including the host, whose connections arrive from the bridge
    # gateway - needs the password.
    printf '\n%s\n' "host all all all $POSTGRES_HOST_AUTH_METHOD" >> "$PGDATA/pg_hba.conf"
}

temp_server_start() {
    # Socket only, so nothing outside the container sees the half-initialised server.
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
}

temp_server_stop() {
    PGUSER="$POSTGRES_USER" pg_ctl -D "$PGDATA" -m fast -w stop
}

psql_init() {
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

create_db() {
    if [[ "$POSTGRES_DB" != postgres ]]; then
        psql_init --dbname postgres --set db="$POSTGRES_DB" <<'EOSQL'
CREATE DATABASE :"db" ;
EOSQL
        echo
    fi
}

process_init_files() {
    local f
    for f in /docker-entrypoint-initdb.d/*; do
        [[ -e "$f" ]] || continue
        case "$f" in
            *.sh)
                if [[ -x "$f" ]]; then
                    echo "$0: running $f"; "$f"
                else
                    echo "$0: sourcing $f"
                    # shellcheck disable=SC1090
                    . "$f"
                fi
                ;;
            *.sql)    echo "$0: running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f"; echo ;;
            *.sql.gz) echo "$0: running $f"; gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB"; echo ;;
            *)        echo "$0: ignoring $f" ;;
        esac
    done
}

main() {
    # `docker run IMAGE -c foo=bar` means `postgres -c foo=bar`.
    if [[ "${1:-}" == -* ]]; then
        set -- postgres "$@"
    fi
    if [[ "${1:-}" != postgres ]]; then
        exec "$@"
    fi

    setup_env
    if [[ "$(id -u)" == 0 ]]; then
        create_dirs_as_root
        # Drop to the postgres user and start over; exec keeps PID 1 for the server.
        exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
    fi

    if [[ -z "$DATABASE_ALREADY_EXISTS" ]]; then
        verify_minimum_env
        init_database_dir
        setup_hba
        export PGPASSWORD="$POSTGRES_PASSWORD"
        temp_server_start
        create_db
        process_init_files
        temp_server_stop
        unset PGPASSWORD
        echo
        echo 'PostgreSQL init process complete; ready for start up.'
        echo
    else
        echo
        echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
        echo
    fi
    exec "$@"
}

main "$@"
