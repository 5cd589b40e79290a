#!/bin/sh
# A stand-in for a Python with pynvml in tests: whatever script it is given,
# it prints "uuid, millijoules" per GPU like the energy script does. GPU-aaaa's
# counter advances 50000 mJ per call; GPU-bbbb has no counter.
state=${FAKE_NVIDIA_SMI_STATE:?}
n=$(cat "$state/energy-calls" 2>/dev/null || echo 0)
n=$((n + 1))
echo "$n" >"$state/energy-calls"
echo "GPU-aaaa, $((1000000 + n * 50000))"
echo "GPU-bbbb, [N/A]"
