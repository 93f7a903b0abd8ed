#!/usr/bin/env bash
# From a fresh clone to insights you can read, with nothing installed by hand:
# .venv with jobsup, an embedded PostgreSQL in ./.jobsup, the schema, the three sample
# business files enqueued as a batch of `analysis` jobs with an `analysis.report` job that
# combines them once they have ended, one run of the supervisor until they are all done,
# then each job's insights. Safe to run again (it enqueues the samples again).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/venv.sh
export JOBSUP_HOME="${JOBSUP_HOME:-$PWD/.jobsup}"
export JOBSUP_CONFIG="${JOBSUP_CONFIG:-conf/quickstart.toml}"

jobsup db init # the only step here that may create the embedded PostgreSQL
echo "== database: $(jobsup db url)"

echo "== enqueue the sample files (conf/samples) as one batch, then their combined report"
batch_file="$(mktemp)"
trap 'rm -f "$batch_file"' EXIT
sample() {  # one line of the batch: an analysis job over one file (JSON-escaped by Python)
    python3 -c 'import json, os, sys; print(json.dumps({"file_path": os.path.abspath(sys.argv[1]),
        "original_name": os.path.basename(sys.argv[1]), "description": sys.argv[2]}))' "$1" "$2"
}
{
    sample conf/samples/sales.csv \
        "Grow online sales and understand which regions and customers drive revenue"
    sample conf/samples/customers.csv \
        "Which customer segments bring the most value, and are we keeping them happy?"
    sample conf/samples/support_tickets.jsonl \
        "Reduce resolution time and improve customer satisfaction in support"
} >"$batch_file"
batch="$(jobsup enqueue --batch "$batch_file" --then-type analysis.report --json \
    --description "One report over the three sample files")"
batch_id="$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <<<"$batch")"
mapfile -t ids < <(python3 -c 'import json, sys; b = json.load(sys.stdin)
print(*b["job_ids"], b["then_id"], sep="\n")' <<<"$batch")
echo "batch $batch_id: ${ids[*]}"

echo "== run the supervisor until the queue is empty (the report runs once the three have ended)"
jobsup start --until-empty --concurrency 2

for id in "${ids[@]}"; do
    echo
    jobsup jobs show "$id"
done
echo
echo "Done. Explore with: jobsup jobs list · jobsup jobs show ID --details · psql \"\$(jobsup db url)\""
echo "Stop the embedded PostgreSQL with: jobsup db stop"
