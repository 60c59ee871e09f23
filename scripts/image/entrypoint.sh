#!/bin/sh
# The image's entrypoint: the learner's copy of the course in ~/mnist (their volume), then the
# command. Notebooks the learner has not edited follow the image's version; edited ones are kept,
# with the new version beside them (scripts/hub/course_copy.py). A failed copy never keeps the
# server from starting.
python /opt/mnist/scripts/hub/course_copy.py /opt/mnist "$HOME/mnist" \
  || echo "course copy failed: the notebooks in ~/mnist are as they were" >&2
exec "$@"
