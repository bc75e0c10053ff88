"""Container driver: runs compose services on the Docker engine through the docker SDK."""

from neodev.docker.client import ClientFactory
from neodev.docker.project import ContainerInfo, DockerProject, DownReport, PortConflict
from neodev.docker.runner import ContainerRunner, config_hash

__all__ = ["ClientFactory", "ContainerInfo", "ContainerRunner", "DockerProject", "DownReport",
           "PortConflict", "config_hash"]
