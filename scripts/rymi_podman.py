"""Podman for the deployment tests (compose_test.py, k8s_check.py): set up as ../shared/MACHINE.md
says, with a bookworm base image made by debootstrap (no registry is reachable here) and the
image's `prebuilt` target built from binaries built on this host."""
import datetime
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
IMAGE = "localhost/rymi-campaigns:latest"
BASE = "localhost/debian:bookworm-slim"
CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
"""
started = time.time()
# What a run made, to remove at its end: ("image", name), or the caller's own kinds.
made = []
# The name progress lines start with (the calling test's).
label = ["compose-test"]


def step(text):
    print(f"{label[0]} [{time.time() - started:5.0f} s] {text}", flush=True)


def run(command, timeout=300, check=True, env=None, quiet=True):
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, timeout=timeout,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout[-3000:]}")
    if not quiet:
        print(result.stdout, end="")
    return result


def free_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        return listener.getsockname()[1]


def setup_podman():
    path = "/etc/containers/containers.conf"
    current = open(path).read() if os.path.exists(path) else ""
    if "runc" not in current or "nofile=20000" not in current:
        os.makedirs("/etc/containers", exist_ok=True)
        with open(path, "w") as file:
            file.write(CONTAINERS_CONF)


def base_image():
    if run(["podman", "image", "exists", BASE], check=False).returncode == 0:
        return
    step("making a bookworm base image with debootstrap")
    with tempfile.TemporaryDirectory(prefix="rymi-bookworm-") as root:
        run(["debootstrap", "--variant=minbase", "bookworm", root, "http://deb.debian.org/debian"], timeout=600)
        run(["sh", "-c", f"rm -rf {root}/var/cache/apt/archives/*.deb {root}/var/lib/apt/lists/* "
                         f"{root}/usr/share/doc/* {root}/usr/share/man/* {root}/usr/share/locale/*"])
        run(["sh", "-c", f"tar -C {root} -c . | podman import - {BASE}"], timeout=300)
    made.append(("image", BASE))


TOOLCHAIN = "localhost/rymi-swift-toolchain:local"
# A stand-in for the official Swift image (which no registry here serves): the bookworm base, the
# build dependencies the official image has, and this machine's own toolchain.
TOOLCHAIN_CONTAINERFILE = f"""FROM {BASE}
RUN apt-get update && apt-get install -y --no-install-recommends binutils gcc libc6-dev libstdc++-12-dev libgcc-12-dev \\
    libcurl4-openssl-dev libxml2-dev zlib1g-dev libsqlite3-dev pkg-config git libpython3-dev libedit-dev libncurses-dev \\
    uuid-dev tzdata ca-certificates && rm -rf /var/lib/apt/lists/*
RUN cp -a /mnt/swift /opt/swift
ENV PATH=/opt/swift/usr/bin:$PATH
"""


def toolchain_image():
    if run(["podman", "image", "exists", TOOLCHAIN], check=False).returncode == 0:
        return
    step("making a stand-in for the official Swift image from this machine's toolchain")
    with tempfile.TemporaryDirectory(prefix="rymi-toolchain-") as context:
        with open(os.path.join(context, "Containerfile"), "w") as file:
            file.write(TOOLCHAIN_CONTAINERFILE)
        run(["podman", "build", "-v", "/opt/swift:/mnt/swift:ro", "-t", TOOLCHAIN, context], timeout=900)
    made.append(("image", TOOLCHAIN))


def build_image(from_sources=False):
    """Builds the image (and podman's setup and base images first, when missing): the Dockerfile's
    default target from the sources, as a user builds it, or its `prebuilt` target from binaries
    built on this host (faster)."""
    setup_podman()
    base_image()
    if from_sources:
        toolchain_image()
        step("building the image from the sources (the Dockerfile's default target)")
        run(["podman", "build", "-f", "compose/Dockerfile", "--build-arg", f"SWIFT_IMAGE={TOOLCHAIN}", "-t", IMAGE, "."], timeout=1800)
    else:
        step("building the binaries on this host (release) and the image's prebuilt target")
        run(["swift", "build", "-c", "release"], timeout=1200)
        context = tempfile.mkdtemp(prefix="rymi-image-")
        run(["compose/collect-binaries.sh", ".build/release", context])
        run(["podman", "build", "-f", "compose/Dockerfile", "--target", "prebuilt", "-t", IMAGE, context], timeout=900)
        run(["rm", "-rf", context])
    made.append(("image", IMAGE))
    check_image()


def check_image():
    """Slim, stripped, separate executables; uid and gid 10001 owning the data; tzdata and CAs."""
    root = run(["podman", "image", "mount", IMAGE]).stdout.strip()
    try:
        executables = os.path.join(root, "usr", "local", "bin")
        names = sorted(os.listdir(executables))
        assert names == ["rymi", "rymi-dialer", "rymi-gateway", "rymi-manager", "rymi-plivo-sim"], names
        for name in names:
            sections = run(["readelf", "-S", os.path.join(executables, name)]).stdout
            assert ".debug_info" not in sections and ".symtab" not in sections, f"{name} is not stripped"
    finally:
        run(["podman", "image", "unmount", IMAGE], check=False)
    size = int(run(["podman", "image", "inspect", IMAGE, "--format", "{{.Size}}"]).stdout.strip())
    binaries = run(["podman", "run", "--rm", IMAGE, "sh", "-c", "du -sk /usr/local/bin /usr/lib/swift/linux"]).stdout.split()
    step(f"image {IMAGE}: {size / 1e6:.0f} MB (executables {int(binaries[0]) / 1024:.0f} MB, Swift runtime {int(binaries[2]) / 1024:.0f} MB)")
    assert size < 300e6, f"the image is {size / 1e6:.0f} MB"
    facts = run(["podman", "run", "--rm", IMAGE, "sh", "-c",
                 "id -u; id -g; stat -c %u:%g /var/lib/rymi/data /var/lib/rymi/secrets; "
                 "test -f /usr/share/zoneinfo/America/New_York && echo tzdata; test -s /etc/ssl/certs/ca-certificates.crt && echo ca"]).stdout.split()
    assert facts == ["10001", "10001", "10001:10001", "10001:10001", "tzdata", "ca"], facts


def remove_made_images():
    """Removes the images this run made, and the untagged stages its builds left."""
    for kind, what in reversed(made):
        if kind == "image":
            run(["podman", "rmi", "-f", what], check=False, timeout=120)
    run(["podman", "image", "prune", "-f"], check=False, timeout=120)
    made[:] = [entry for entry in made if entry[0] != "image"]


def midday_zone():
    """An Etc/GMT zone where it is about noon now: every contact is inside its calling window."""
    offset = (12 - datetime.datetime.now(datetime.timezone.utc).hour + 12) % 24 - 12
    return "Etc/GMT" + ("-" if offset >= 0 else "+") + str(abs(offset)) if offset else "Etc/GMT"


def http(method, url, key=None, body=None, timeout=15):
    request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body is not None else None)
    if key:
        request.add_header("Authorization", "Bearer " + key)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    try:
        return status, json.loads(text or b"null")
    except ValueError:
        return status, text.decode(errors="replace")


def wait(what, condition, timeout):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = condition()
            if last:
                return last
        except (OSError, urllib.error.URLError) as error:
            last = error
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what} (last: {last})")


def run_test(name, body, teardown, explain=lambda: None):
    """Runs `body`, then `teardown` whatever happened; prints `NAME: passed` (which make test
    counts) or `NAME: FAILED` with `explain`'s account, and exits 1."""
    try:
        body()
    except Exception as error:
        print(f"{name}: FAILED: {error}", file=sys.stderr)
        explain()
        teardown()
        sys.exit(1)
    teardown()
    print(f"{name}: passed in {time.time() - started:.0f} s")
