# Sourced by the project's scripts: the environment that tch, cargo and the kernel need.
# Nobody has to export anything by hand; `source scripts/env.sh` is what every entry point does.
MNIST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MNIST_ROOT
export MNIST_VENV="${MNIST_VENV:-$MNIST_ROOT/.venv}"
export MNIST_TOOLS="${MNIST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/mnist-rs/tools}"
export LIBTORCH_USE_PYTORCH=1
export PATH="$MNIST_VENV/bin:$MNIST_TOOLS/bin:$HOME/.cargo/bin:$PATH"
export TORCH_LIB="$MNIST_VENV/lib/python3.11/site-packages/torch/lib"
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# C++ parts (torch-sys' wrapper) go through ccache when it is installed: rebuilds take seconds.
if command -v ccache >/dev/null 2>&1; then
  export CC="ccache gcc" CXX="ccache g++"
fi
