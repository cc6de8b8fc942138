#!/usr/bin/env bash
# A two-node Ray cluster on one machine (or two), to try the cluster workflow without a cloud:
# a head node and a worker node, each with its own --temp-dir and resources, a sweep submitted
# as a Ray job, then everything stopped. Run from the repository root, with `ray` and `raylaws`
# on PATH (e.g. `source .venv/bin/activate`). Job submission needs the dashboard, which needs
# `pip install "ray[default]"` (the raylaws package alone installs ray[tune]).
#
#   bash cluster/local.sh up                            # start the head and one worker node
#   bash cluster/local.sh submit search_spaces/demo.yaml  # run a sweep on it as a Ray job
#   bash cluster/local.sh down                          # ray stop
#
# The commands it runs, to type by hand or to spread over two machines (replace 127.0.0.1 by
# the head's address and run the second `ray start` on the other machine):
#
#   ray start --head --port=6379 --temp-dir=/tmp/raylaws-head --num-cpus=1 --num-gpus=0
#   ray start --address=127.0.0.1:6379 --temp-dir=/tmp/raylaws-worker --num-cpus=2 --num-gpus=0 \
#       --dashboard-agent-listen-port=52366
#   ray job submit --address http://127.0.0.1:8265 --working-dir . \
#       --runtime-env-json '{"excludes": [".git"]}' -- \
#       raylaws run search_spaces/demo.yaml --address auto --storage "$PWD/results"
#   ray stop
#
# The job's command runs with the environment (PATH included) of the head's `ray start`, so start
# the nodes with raylaws on PATH. Ports 6379, 8265, 10001 and 52365 are Ray's defaults: another
# Ray on the same machine needs others (--port, --dashboard-port, --ray-client-server-port,
# --dashboard-agent-listen-port, --min/max-worker-port).
#
# --storage must be an absolute path (or, once supported, an s3:// / gs:// URI): a Ray job runs
# in a copy of the working directory that Ray deletes later, so a relative path would put the
# sweep there. On two machines it must be a directory both see (NFS) or an object-store URI.
set -euo pipefail

HEAD_ADDRESS="${RAYLAWS_HEAD_ADDRESS:-127.0.0.1}"
HEAD_CPUS="${RAYLAWS_HEAD_CPUS:-1}"
WORKER_CPUS="${RAYLAWS_WORKER_CPUS:-2}"
WORKER_GPUS="${RAYLAWS_WORKER_GPUS:-0}"
STORAGE="${RAYLAWS_STORAGE:-$PWD/results}"

usage() {
    echo "usage: bash cluster/local.sh up | submit SPEC [raylaws run options...] | down" >&2
    exit 2
}

case "${1:-}" in
    up)
        # The head: GCS on 6379, dashboard (and job API) on 8265.
        ray start --head --port=6379 --temp-dir=/tmp/raylaws-head \
            --num-cpus="$HEAD_CPUS" --num-gpus=0
        # A second node joining it. On one machine it needs its own temp dir and a dashboard
        # agent port of its own (the head's agent holds the default, 52365).
        ray start --address="$HEAD_ADDRESS:6379" --temp-dir=/tmp/raylaws-worker \
            --num-cpus="$WORKER_CPUS" --num-gpus="$WORKER_GPUS" \
            --dashboard-agent-listen-port=52366
        ray status --address="$HEAD_ADDRESS:6379"
        ;;
    submit)
        [ $# -ge 2 ] || usage
        spec="$2"; shift 2
        # Ray uploads the checkout without what .gitignore lists, but with .git unless excluded.
        ray job submit --address "http://$HEAD_ADDRESS:8265" --working-dir . \
            --runtime-env-json '{"excludes": [".git"]}' -- \
            raylaws run "$spec" --address auto --storage "$STORAGE" "$@"
        ;;
    down)
        # Note: `ray stop` stops every Ray process of this user on this machine, not only these two nodes.
        ray stop
        ;;
    *)
        usage
        ;;
esac
