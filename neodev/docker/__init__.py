"""Container driver: runs compose services on the Docker engine through the docker SDK.

Import what you need from the modules (`neodev.docker.runner`, `neodev.docker.project`,
`neodev.docker.labels`...): this package does not re-export them, so the pure modules load
without the docker SDK.
"""
