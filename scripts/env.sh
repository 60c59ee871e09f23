# Sourced by the project's scripts: the environment that tch, cargo and the kernel need.
# Nobody has to export anything by hand; `source scripts/env.sh` is what every entry point does.
MNIST_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export MNIST_ROOT
export MNIST_VENV="${MNIST_VENV:-$MNIST_ROOT/.venv}"
export MNIST_TOOLS="${MNIST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/mnist-rs/tools}"
export LIBTORCH_USE_PYTORCH=1
# Prepends a directory to PATH once (this file may be sourced more than once).
_mnist_prepend_path() { case ":$PATH:" in *":$1:"*) ;; *) PATH="$1:$PATH" ;; esac; }
_mnist_prepend_path "${CARGO_HOME:-$HOME/.cargo}/bin"
_mnist_prepend_path "$MNIST_TOOLS/bin"
_mnist_prepend_path "$MNIST_VENV/bin"
export PATH
export TORCH_LIB="$MNIST_VENV/lib/python3.11/site-packages/torch/lib"
case ":${LD_LIBRARY_PATH:-}:" in
  *":$TORCH_LIB:"*) ;;
  *) export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ;;
esac
# C++ parts (torch-sys' wrapper) go through ccache when it is installed: rebuilds take seconds.
# CCACHE_BASEDIR makes paths inside the project relative, so another clone hits the same cache.
if command -v ccache >/dev/null 2>&1; then
  export CC="ccache gcc" CXX="ccache g++" CCACHE_BASEDIR="$MNIST_ROOT"
fi
