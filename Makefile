# The README's two commands. Both install missing Debian packages first
# (scripts/deps.sh is idempotent), so a fresh Debian 12 machine needs
# nothing else.
.PHONY: all deps run check fuzz clean

all: deps
	@scripts/build.sh build

deps:
	@scripts/deps.sh

run: all
	exec build/programs/keeld

check: deps
	@scripts/check.sh

# A long libFuzzer run of every target (docs/fuzzing.md); FUZZ_SECONDS each.
fuzz: deps
	@scripts/build.sh build-fuzz
	@scripts/fuzz.sh $${FUZZ_SECONDS:-600}

clean:
	rm -rf build build-asan build-fuzz
