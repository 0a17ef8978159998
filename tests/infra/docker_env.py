"""A private, real Docker daemon and real registries for the image tests.

Everything lives under one temporary directory and listens only on a unix
socket or on 127.0.0.1: nothing touches the system daemon, the network or
~/.docker. ``DockerEnv.start()`` brings up

* ``dockerd`` (Debian ``docker.io``) without iptables or a bridge, so builds
  and containers run with ``network_mode="none"``;
* an open registry (Debian ``docker-registry``) on a free loopback port;
* a second registry that requires basic auth (htpasswd from apache2-utils),
  for the credential tests;
* a tiny base image made offline: a rootfs of the static busybox
  (busybox-static) imported with ``docker import``.

``stop()`` ends exactly the processes it started (by pid / process group) and
removes the directory. ``python -m tests.infra.docker_env`` runs it by hand and
prints the environment to point a shell at it.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

BASE_IMAGE = "pfgen-test/busybox:1"
AUTH_USER = "pfgen"
AUTH_PASSWORD = "pfgen-test-password"
START_TIMEOUT = 90.0


class CannotStart(Exception):
    """A component cannot run on this machine (the reason is the message)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Registry:
    port: int
    process: subprocess.Popen
    log: Path
    user: Optional[str] = None
    password: Optional[str] = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class DockerEnv:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="pfgen-dk-", dir="/tmp")))
    dockerd: Optional[subprocess.Popen] = None
    registry: Optional[Registry] = None
    auth_registry: Optional[Registry] = None
    readonly_registry: Optional[Registry] = None  # answers reads, refuses pushes inside the push stream
    base_image: str = BASE_IMAGE

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def docker_config(self) -> Path:
        """An empty DOCKER_CONFIG directory, so ~/.docker is never read."""
        path = self.root / "docker-config"
        path.mkdir(exist_ok=True)
        return path

    def env(self) -> dict[str, str]:
        return {
            "DOCKER_HOST": self.docker_host,
            "DOCKER_CONFIG": str(self.docker_config),
            "DOCKER_BUILDKIT": "0",
        }

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.docker_host, timeout=120)

    # -- start -------------------------------------------------------------

    def start(self) -> "DockerEnv":
        try:
            self._start_dockerd()
            self.registry = self._start_registry("open")
            self.auth_registry = self._start_registry("auth", auth=True)
            self.readonly_registry = self._start_registry("readonly", readonly=True)
            self._make_base_image()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_dockerd(self) -> None:
        if shutil.which("dockerd") is None:
            raise CannotStart("dockerd is not installed (run .ci/setup.d/20-docker.sh: Debian docker.io)")
        if os.geteuid() != 0:
            raise CannotStart("dockerd needs root and the tests are not running as root")
        for sub in ("data", "exec"):
            (self.root / sub).mkdir()
        log = self.root / "dockerd.log"
        cmd = [
            "dockerd",
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "-H", self.docker_host,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "docker.pid"),
        ]  # fmt: skip
        with open(log, "wb") as out:
            self.dockerd = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.dockerd.poll() is not None:
                raise CannotStart(f"dockerd exited with {self.dockerd.returncode}:\n{_tail(log)}")
            if self.socket.exists():
                try:
                    if self.client().ping():
                        return
                except Exception:
                    pass
            time.sleep(0.3)
        raise CannotStart(f"dockerd did not answer within {START_TIMEOUT:.0f}s:\n{_tail(log)}")

    def _start_registry(self, name: str, auth: bool = False, readonly: bool = False) -> Registry:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise CannotStart("docker-registry is not installed (Debian docker-registry)")
        port = free_port()
        storage = self.root / f"registry-{name}"
        storage.mkdir()
        config = [
            "version: 0.1",
            "log: {level: warn}",
            f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}, "
            f"maintenance: {{readonly: {{enabled: {'true' if readonly else 'false'}}}}}}}",
            f"http: {{addr: '127.0.0.1:{port}', secret: pfgen-test-{name}}}",
        ]
        user = password = None
        if auth:
            htpasswd = shutil.which("htpasswd")
            if htpasswd is None:
                raise CannotStart("htpasswd is not installed (Debian apache2-utils)")
            user, password = AUTH_USER, AUTH_PASSWORD
            line = subprocess.run(
                [htpasswd, "-Bbn", user, password], check=True, capture_output=True, text=True
            ).stdout.strip()
            (self.root / f"htpasswd-{name}").write_text(line + "\n")
            config.append(f"auth: {{htpasswd: {{realm: pfgen-test, path: {self.root / f'htpasswd-{name}'}}}}}")
        config_path = self.root / f"registry-{name}.yml"
        config_path.write_text("\n".join(config) + "\n")
        log = self.root / f"registry-{name}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [binary, "serve", str(config_path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        registry = Registry(port, process, log, user, password)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise CannotStart(f"docker-registry exited with {process.returncode}:\n{_tail(log)}")
            try:
                urllib.request.urlopen(f"http://{registry.host}/v2/", timeout=2)
                return registry
            except urllib.error.HTTPError as err:  # 401 from the auth registry: it is up
                if err.code == 401:
                    return registry
            except OSError:
                pass
            time.sleep(0.2)
        process.kill()
        raise CannotStart(f"docker-registry did not answer within {START_TIMEOUT:.0f}s:\n{_tail(log)}")

    def _make_base_image(self) -> None:
        busybox = Path("/bin/busybox")
        if not busybox.exists():
            raise CannotStart("/bin/busybox is missing (Debian busybox-static)")
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            for name in ("bin", "tmp", "etc"):
                info = tarfile.TarInfo(name)
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            tar.add(str(busybox), arcname="bin/busybox")
            for applet in ("sh", "ls", "cat", "find", "stat", "test"):
                info = tarfile.TarInfo(f"bin/{applet}")
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
                tar.addfile(info)
        repository, tag = self.base_image.rsplit(":", 1)
        self.client().api.import_image_from_data(data.getvalue(), repository=repository, tag=tag)

    # -- use ---------------------------------------------------------------

    def run(self, image: str, *command: str) -> str:
        """Run a command in a container (no network) and return its stdout."""
        out = self.client().containers.run(image, list(command), network_mode="none", remove=True)
        return out.decode()

    # -- stop --------------------------------------------------------------

    def stop(self) -> None:
        for registry in (self.registry, self.auth_registry, self.readonly_registry):
            if registry is not None:
                _terminate(registry.process, 10)
        if self.dockerd is not None:
            _terminate(self.dockerd, 45)
            # dockerd runs its own containerd in a new session; it normally stops
            # it on shutdown, but not when dockerd had to be killed.
            _terminate_pidfile(self.root / "exec" / "containerd" / "containerd.pid", "containerd")
        _unmount_under(self.root)
        shutil.rmtree(self.root, ignore_errors=True)


def _terminate(process: subprocess.Popen, grace: float) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its own session: only what we started
        except ProcessLookupError:
            pass
        process.wait(10)


def _terminate_pidfile(pidfile: Path, expected: str) -> None:
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return
    if expected.encode() not in cmdline.split(b"\0")[0]:
        return  # the pid was reused by something else
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        if not Path(f"/proc/{pid}").exists():
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def _unmount_under(root: Path) -> None:
    """Unmount anything a killed daemon left mounted below ``root`` (deepest first)."""
    try:
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return
    prefix = str(root) + "/"
    for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True)


def main() -> None:  # pragma: no cover - manual use
    env = DockerEnv().start()
    for key, value in env.env().items():
        print(f"export {key}={value}")
    print(f"# registry: {env.registry.host}; auth registry: {env.auth_registry.host} "
          f"({AUTH_USER}/{AUTH_PASSWORD}); base image: {env.base_image}")
    print("# Ctrl-C stops everything", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        env.stop()


if __name__ == "__main__":
    main()
