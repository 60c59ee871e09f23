#!/bin/sh
# The image's default command: under JupyterHub (DockerSpawner sets JUPYTERHUB_API_TOKEN) the
# single-user server with the hub's arguments; otherwise JupyterLab for one learner on port 8888,
# with a token in the URL it prints.
cd "$HOME/mnist"
if [ -n "${JUPYTERHUB_API_TOKEN:-}" ]; then
  exec jupyterhub-singleuser "$@"
fi
exec jupyter lab --ip=0.0.0.0 --port=8888 --no-browser \
  --ServerApp.default_url=/lab/tree/notebooks/01_imports.ipynb "$@"
