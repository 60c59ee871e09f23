#!/usr/bin/env bash
# A learner's server (the hub runs it as the learner): their copy of the course, then JupyterLab
# with the hub's arguments. Nothing here needs root.
set -euo pipefail
python "$MNIST_CLASS_DIR/course/scripts/hub/course_copy.py" "$MNIST_CLASS_DIR/course" "$HOME/mnist"
exec jupyterhub-singleuser "$@"
