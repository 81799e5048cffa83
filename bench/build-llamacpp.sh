#!/usr/bin/env bash
# bench/build-llamacpp.sh: build llama.cpp (the copy vendored in the PyPI source distribution of
# llama-cpp-python, default 0.3.36) once into a cache, for side-by-side benchmarks with allmende.
#
# Reference: the llama.cpp figures in docs/PERFORMANCE.md were measured with binaries built by this script
# (Release, GGML_NATIVE=ON, OpenMP, no CURL/OpenSSL, static libraries).
#
# Usage: bench/build-llamacpp.sh            (idempotent: does nothing when the binaries are already there)
#   ALLMENDE_BENCH_CACHE   cache root (default ~/.cache/allmende-bench)
#   LLAMACPP_PY_VERSION    llama-cpp-python version whose vendored llama.cpp is built (default 0.3.36)
#   JOBS                   parallel compile jobs (default 2); the build runs under `nice -n 19`
#   BUILD_SERVER           1 (default) also builds llama-server after the other tools; 0 skips it
#   FORCE                  1 rebuilds from scratch
#   VARIANT                native (default: -march=native, as the baselines) or avx2 (AVX2+FMA+F16C+BMI2 only,
#                          no AVX-512: the ISA allmende's kernels use, for an ISA-matched comparison on AVX-512
#                          machines); avx2 builds into llama.cpp-$VERSION-avx2/
#
# Output: $CACHE/llama.cpp-$VERSION[-avx2]/bin/{llama-bench,llama-simple,llama-completion,llama-perplexity,llama-server}
# It needs a C/C++ compiler, python3 with pip and network access to PyPI; cmake and ninja come from PyPI
# (installed into $CACHE/tools-venv) when the system lacks them. Not run in CI.
set -euo pipefail

VERSION="${LLAMACPP_PY_VERSION:-0.3.36}"
CACHE="${ALLMENDE_BENCH_CACHE:-$HOME/.cache/allmende-bench}"
JOBS="${JOBS:-2}"
BUILD_SERVER="${BUILD_SERVER:-1}"
VARIANT="${VARIANT:-native}"
case "$VARIANT" in
  native) PREFIX="$CACHE/llama.cpp-$VERSION"
          ISA_FLAGS=(-DGGML_NATIVE=ON) ;;
  avx2)   PREFIX="$CACHE/llama.cpp-$VERSION-avx2"
          ISA_FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
                     -DGGML_AVX512=OFF -DGGML_AVX_VNNI=OFF) ;;
  *) echo "VARIANT must be native or avx2" >&2; exit 2 ;;
esac
SRC="$PREFIX/src"
BUILD="$PREFIX/build"
BIN="$PREFIX/bin"
STAMP="$PREFIX/.build-config"
TOOLS=(llama-bench llama-simple llama-completion llama-perplexity)

log() { printf '[build-llamacpp %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

CONFIG="version=$VERSION isa=$VARIANT openmp=ON curl=OFF openssl=OFF build_type=Release static=ON"

have_all() {
  local t
  for t in "$@"; do [[ -x "$BIN/$t" ]] || return 1; done
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$CONFIG" ]]
}

want=("${TOOLS[@]}")
[[ "$BUILD_SERVER" == 1 ]] && want+=(llama-server)
if [[ "${FORCE:-0}" != 1 ]] && have_all "${want[@]}"; then
  log "already built: $BIN ($CONFIG)"
  exit 0
fi
if [[ "${FORCE:-0}" == 1 ]]; then rm -rf "$BUILD" "$BIN" "$STAMP"; fi
mkdir -p "$PREFIX" "$BIN"

# 1. cmake and ninja (system ones if present, else from PyPI into a private venv).
export PATH="$CACHE/tools-venv/bin:$PATH"
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
  log "installing cmake and ninja into $CACHE/tools-venv"
  python3 -m venv "$CACHE/tools-venv"
  "$CACHE/tools-venv/bin/pip" install --quiet cmake ninja
fi
log "cmake: $(cmake --version | head -1), ninja $(ninja --version)"

# 2. The source distribution (only llama-cpp-python itself from source; its build tools may be wheels).
if [[ ! -f "$SRC/CMakeLists.txt" ]]; then
  dl="$CACHE/downloads"
  mkdir -p "$dl"
  sdist="$dl/llama_cpp_python-$VERSION.tar.gz"
  if [[ ! -f "$sdist" ]]; then
    log "downloading llama-cpp-python==$VERSION sdist"
    python3 -m pip download --quiet --no-deps --no-binary llama-cpp-python \
      "llama-cpp-python==$VERSION" -d "$dl"
  fi
  log "unpacking vendor/llama.cpp"
  rm -rf "$dl/unpack" "$SRC"
  mkdir -p "$dl/unpack" "$(dirname "$SRC")"
  tar xzf "$sdist" -C "$dl/unpack" "llama_cpp_python-$VERSION/vendor/llama.cpp"
  mv "$dl/unpack/llama_cpp_python-$VERSION/vendor/llama.cpp" "$SRC"
  rm -rf "$dl/unpack"
fi

# 3. Configure (static libraries so the binaries can be copied; no tests; no network code).
if [[ ! -f "$BUILD/build.ninja" ]]; then
  log "configuring"
  cmake -S "$SRC" -B "$BUILD" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=OFF \
    "${ISA_FLAGS[@]}" \
    -DGGML_OPENMP=ON \
    -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=ON \
    -DLLAMA_BUILD_TOOLS=ON \
    -DLLAMA_BUILD_SERVER=ON \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DGGML_BUILD_TESTS=OFF \
    -DGGML_BUILD_EXAMPLES=OFF >"$PREFIX/configure.log" 2>&1 || { tail -40 "$PREFIX/configure.log" >&2; exit 1; }
  grep -iE "openmp|native|x86 detected|Including CPU|Adding CPU" "$PREFIX/configure.log" >&2 || true
fi

# 4. Build: the benchmark tools first (so they are usable early), then the server.
build_targets() {
  log "building $* with -j$JOBS (log: $PREFIX/build.log)"
  nice -n 19 cmake --build "$BUILD" --config Release -j "$JOBS" --target "$@" >>"$PREFIX/build.log" 2>&1 \
    || { tail -40 "$PREFIX/build.log" >&2; exit 1; }
  local t
  for t in "$@"; do cp -f "$BUILD/bin/$t" "$BIN/$t"; done
  log "built $*"
}
: >"$PREFIX/build.log"
build_targets "${TOOLS[@]}"
if [[ "$BUILD_SERVER" == 1 ]]; then build_targets llama-server; fi

echo "$CONFIG" >"$STAMP"
"$BIN/llama-bench" --help >/dev/null 2>&1 || true
log "done: $(ls "$BIN" | tr '\n' ' ')"
