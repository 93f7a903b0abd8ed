#!/usr/bin/env bash
# From a fresh clone to insights you can read, with nothing installed by hand:
# .venv with jobsup, an embedded PostgreSQL in ./.jobsup, the schema, the three sample
# business files enqueued as `analysis` jobs, one batch run of the supervisor until they
# are done, then each job's insights. Safe to run again (it enqueues the samples again).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
export JOBSUP_HOME="${JOBSUP_HOME:-$PWD/.jobsup}"
export JOBSUP_CONFIG="${JOBSUP_CONFIG:-conf/quickstart.toml}"

jobsup db init # the only step here that may create the embedded PostgreSQL
echo "== database: $(jobsup db url)"

echo "== enqueue the sample files (conf/samples)"
ids=()
enqueue() {
    ids+=("$(jobsup enqueue --type analysis --file "$1" --description "$2")")
    echo "${ids[-1]}  $1"
}
enqueue conf/samples/sales.csv \
    "Grow online sales and understand which regions and customers drive revenue"
enqueue conf/samples/customers.csv \
    "Which customer segments bring the most value, and are we keeping them happy?"
enqueue conf/samples/support_tickets.jsonl \
    "Reduce resolution time and improve customer satisfaction in support"

echo "== run the supervisor until the queue is empty"
jobsup start --until-empty --concurrency 2

for id in "${ids[@]}"; do
    echo
    jobsup jobs show "$id"
done
echo
echo "Done. Explore with: jobsup jobs list · jobsup jobs show ID --details · psql \"\$(jobsup db url)\""
echo "Stop the embedded PostgreSQL with: jobsup db stop"
