"""Configuration: profile TOML + compose YAML + .env -> a frozen, validated EnvironmentPlan."""
