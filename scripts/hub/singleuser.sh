#!/usr/bin/env bash
# A learner's server (the hub runs it as the learner): their copy of the course, then JupyterLab
# with the hub's arguments. Nothing here needs root.
set -euo pipefail
# A failed copy is reported in the hub's log and never keeps the learner out of their server.
python "$MNIST_CLASS_DIR/course/scripts/hub/course_copy.py" "$MNIST_CLASS_DIR/course" "$HOME/mnist" \
  || echo "course copy failed for $USER: their notebooks are as they were" >&2
exec jupyterhub-singleuser "$@"
