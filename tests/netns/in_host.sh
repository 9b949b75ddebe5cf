#!/bin/sh
# Runs a rank inside its test host: network namespace "$WEFT_TEST_NS_PREFIX<k>" with
# k = WEFT_RANK mod WEFT_TEST_HOSTS. weftrun starts this script in place of the program.
k=$((WEFT_RANK % WEFT_TEST_HOSTS))
exec ip netns exec "${WEFT_TEST_NS_PREFIX}${k}" "$@"
