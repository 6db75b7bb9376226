# The README's two commands. Each installs what it needs first.
#   make run   installs dependencies, builds (Release) and serves the default model
#   make test  installs dependencies, builds and runs every test through ctest
#   make test-asan   clang Debug ASan+UBSan tree (build-asan), unit and
#                    integration suites; also checks -Wthread-safety -Werror
#   make test-tsan   clang Debug TSan tree (build-tsan), concurrency suites
#   make test-image  builds the container image (podman/buildah, no registry)
#                    and smoke-tests it from outside (docs/deploy.md)
#   make fuzz  builds the fuzz targets (clang; ASan, UBSan) and runs each for
#              FUZZ_SECONDS from its seed corpus (tests/fuzz/README.md)
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
SERVER_ARGS ?=
IMAGE ?= localhost/qlinear-server:dev
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: deps configure build run test test-asan test-tsan test-image image fuzz format format-check clean

deps:
	bash scripts/install-deps.sh

configure: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/server/qlinear-server $(SERVER_ARGS)

test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)

# The sanitizer job (scripts/ci-sanitize.sh, docs/operations.md).
test-asan: deps
	JOBS=$(JOBS) bash scripts/ci-sanitize.sh asan

test-tsan: deps
	JOBS=$(JOBS) bash scripts/ci-sanitize.sh tsan

# The image compiles the project inside the build; the host build provides the
# qlinear-cli that tests the image from outside.
image:
	bash scripts/install-deps.sh --image
	IMAGE=$(IMAGE) bash scripts/build-image.sh

test-image: build image
	bash tests/deploy/test_image.sh $(IMAGE) $(BUILD_DIR)/clients/cli/qlinear-cli

fuzz: deps
	cmake -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCMAKE_CXX_COMPILER=clang++-14 -DQLINEAR_BUILD_FUZZERS=ON
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target qlinear_fuzzers
	bash tests/fuzz/run_fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

format-check:
	git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan
