#!/bin/sh
# A stand-in for nvidia-smi --query-gpu in tests. It prints canned output:
# call N prints $FAKE_NVIDIA_SMI_DATA/N.csv if that file exists, else
# $FAKE_NVIDIA_SMI_DATA/default.csv, counting calls in
# $FAKE_NVIDIA_SMI_STATE/calls. Fields listed (comma-separated) in
# $FAKE_NVIDIA_SMI_INVALID are rejected the way nvidia-smi rejects a field
# it does not know: the message on stdout and exit status 2.
data=${FAKE_NVIDIA_SMI_DATA:?}
state=${FAKE_NVIDIA_SMI_STATE:?}

query=
format=
for arg in "$@"; do
	case $arg in
	--query-gpu=*) query=${arg#--query-gpu=} ;;
	--format=*) format=${arg#--format=} ;;
	esac
done
if [ "$format" != "csv,noheader,nounits" ]; then
	echo "fake nvidia-smi: want --format=csv,noheader,nounits, got '$format'" >&2
	exit 1
fi

old_ifs=$IFS
IFS=,
for field in $query; do
	for bad in ${FAKE_NVIDIA_SMI_INVALID:-}; do
		if [ "$field" = "$bad" ]; then
			echo "Field \"$field\" is not a valid field to query."
			echo
			exit 2
		fi
	done
done
IFS=$old_ifs

n=$(cat "$state/calls" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" >"$state/calls"
if [ -f "$data/$n.csv" ]; then
	cat "$data/$n.csv"
else
	cat "$data/default.csv"
fi
