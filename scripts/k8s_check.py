#!/usr/bin/env python3
"""`make k8s-check`: the Kubernetes manifests in deploy/k8s, rendered, validated and run.

1. `kubectl kustomize` renders both overlays (production from a copy given throwaway secret files,
   as an operator gives real ones); `kubernetes-validate --strict` checks every object.
2. What the issue asks of them is checked in the rendered objects: the manager a StatefulSet of 1
   with a volume claim behind a headless Service; probes on each executable's --health-check;
   requests and limits; non-root with a read-only root filesystem; Secret references that resolve;
   a NetworkPolicy letting only gateways and dialers reach port 7070.
3. The demo overlay runs with `podman kube play`. Podman 4.3 cannot run a StatefulSet, Service,
   Ingress, HorizontalPodAutoscaler, NetworkPolicy or Namespace, nor mount Secret or projected
   volumes; so the demo's four workloads become one Pod, as rendered (images, commands,
   environment, security contexts, mounts), with each Secret's files on a hostPath, the Services'
   names as host aliases of the pod, and RYMI_PUBLIC_URL on the gateway's container port (no
   Service maps 80 to 8080 here). A campaign then runs to `completed` through it.
"""
import base64
import json
import os
import shutil
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.dirname(__file__))
from rymi_podman import IMAGE, ROOT, build_image, free_port, http, label, midday_zone, remove_made_images, run, run_test, step, wait  # noqa: E402

label[0] = "k8s"
OVERLAYS = os.path.join(ROOT, "deploy", "k8s", "overlays")
PRODUCTION_SECRETS = {"gateway-secret": "0" * 64, "dialer-secret": "1" * 64, "metrics-token": "2" * 48,
                      "api-keys": "acme:key_0123456789abcdef0123", "plivo-auth-id": "MA0000000000000000AB",
                      "plivo-auth-token": "plivo-token-0123456789"}


def render(overlay):
    """The overlay's objects; production's from a copy given throwaway secret files."""
    if overlay != "production":
        return list(yaml.safe_load_all(run(["kubectl", "kustomize", os.path.join(OVERLAYS, overlay)]).stdout))
    with tempfile.TemporaryDirectory(prefix="rymi-k8s-") as copy:
        shutil.copytree(os.path.join(ROOT, "deploy", "k8s"), os.path.join(copy, "k8s"))
        secrets = os.path.join(copy, "k8s", "overlays", "production", "secrets")
        for name, value in PRODUCTION_SECRETS.items():
            with open(os.path.join(secrets, name), "w") as file:
                file.write(value + "\n")
        return list(yaml.safe_load_all(run(["kubectl", "kustomize", os.path.join(copy, "k8s", "overlays", "production")]).stdout))


def validate(overlay, objects):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as file:
        yaml.safe_dump_all(objects, file)
    try:
        result = run(["kubernetes-validate", "--strict", "--no-warn", file.name], check=False)
    finally:
        os.unlink(file.name)
    assert result.returncode == 0 and "INVALID" not in result.stdout and "ERROR" not in result.stdout, result.stdout[-3000:]
    step(f"{overlay}: {len(objects)} objects valid (kubernetes-validate --strict): "
         + ", ".join(sorted({o['kind'] for o in objects})))


def find(objects, kind, name):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"no {kind} {name}"
    return found[0]


def check(overlay, objects):
    manager = find(objects, "StatefulSet", "rymi-manager")
    assert manager["spec"]["replicas"] == 1 and manager["spec"]["volumeClaimTemplates"], "the manager: a StatefulSet of 1 with a claim"
    service = find(objects, "Service", manager["spec"]["serviceName"])
    assert service["spec"]["clusterIP"] == "None", "the manager's Service is headless"
    secrets = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
    workloads = [o for o in objects if o["kind"] in ("StatefulSet", "Deployment")]
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
        for container in pod["containers"]:
            where = f"{overlay}: {workload['metadata']['name']}/{container['name']}"
            executable = container["command"][0]
            for probe in ("livenessProbe", "readinessProbe"):
                assert container[probe]["exec"]["command"] == [executable, "--health-check"], f"{where}: {probe}"
            assert container["resources"]["requests"]["memory"] and container["resources"]["limits"]["memory"], where
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] and not context["allowPrivilegeEscalation"], where
            for variable in container.get("env", []):
                reference = variable.get("valueFrom", {}).get("secretKeyRef")
                assert not reference or reference["name"] in secrets, f"{where}: {variable['name']} names a missing Secret"
        for volume in pod.get("volumes", []):
            names = [volume["secret"]["secretName"]] if "secret" in volume else \
                [source["secret"]["name"] for source in volume.get("projected", {}).get("sources", [])]
            assert all(name in secrets for name in names), f"{overlay}: volume {volume['name']} names a missing Secret"
    policy = find(objects, "NetworkPolicy", "rymi-manager")
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/component": "manager"}
    allowed = policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"]
    assert sorted(allowed) == ["dialer", "gateway"] and policy["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 7070}]
    find(objects, "Ingress", "rymi-gateway")
    find(objects, "HorizontalPodAutoscaler", "rymi-dialer")
    step(f"{overlay}: StatefulSet of 1 with a claim, probes, limits, non-root read-only containers, Secrets resolved, NetworkPolicy")


def smoke_pod(objects, directory, port):
    """The demo's workloads as one Pod podman can run (see the module's docstring)."""
    config = find(objects, "ConfigMap", "rymi-config")["data"]
    secrets = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "Secret"}
    containers, volumes = [], []
    for kind, name in (("StatefulSet", "rymi-manager"), ("Deployment", "rymi-gateway"),
                       ("Deployment", "rymi-dialer"), ("Deployment", "rymi-plivo-sim")):
        pod = find(objects, kind, name)["spec"]["template"]["spec"]
        for container in pod["containers"]:
            container = json.loads(json.dumps(container))
            environment = {}
            # Every envFrom of ours is the one ConfigMap.
            if container.pop("envFrom", None):
                environment.update(config)
            for variable in container.get("env", []):
                if "value" in variable:
                    environment[variable["name"]] = variable["value"]
                elif "secretKeyRef" in variable.get("valueFrom", {}):
                    reference = variable["valueFrom"]["secretKeyRef"]
                    environment[variable["name"]] = base64.b64decode(secrets[reference["name"]][reference["key"]]).decode()
                elif "fieldRef" in variable.get("valueFrom", {}):
                    environment[variable["name"]] = f"{name}-0"
            if name == "rymi-gateway" or name == "rymi-dialer":
                environment["RYMI_PUBLIC_URL"] = "http://rymi-gateway:8080"
            container["env"] = [{"name": key, "value": value} for key, value in environment.items()]
            container["image"] = IMAGE
            for probe in ("livenessProbe", "readinessProbe"):
                container.pop(probe, None)
            if name == "rymi-gateway":
                container["ports"] = [{"containerPort": 8080, "hostPort": port}]
            else:
                container.pop("ports", None)
            mounts = []
            for mount in container.get("volumeMounts", []):
                # The manager's claim (from volumeClaimTemplates, not in volumes) and emptyDirs: scratch here.
                volume = next((v for v in pod.get("volumes", []) if v["name"] == mount["name"]), {"emptyDir": {}})
                local = f"{name}-{mount['name']}"
                if "emptyDir" in volume:
                    volumes.append({"name": local, "emptyDir": {}})
                else:
                    # The Secret's files, as the secret or projected volume lays them out.
                    folder = os.path.join(directory, local)
                    os.makedirs(folder, exist_ok=True)
                    sources = [{"secret": {"name": volume["secret"]["secretName"], "items": volume["secret"].get("items")}}] \
                        if "secret" in volume else volume["projected"]["sources"]
                    for source in sources:
                        data = secrets[source["secret"]["name"]]
                        items = source["secret"].get("items") or [{"key": key, "path": key} for key in data]
                        for item in items:
                            with open(os.path.join(folder, item["path"]), "wb") as file:
                                file.write(base64.b64decode(data[item["key"]]))
                    os.chmod(folder, 0o755)
                    for entry in os.listdir(folder):
                        os.chmod(os.path.join(folder, entry), 0o444)
                    volumes.append({"name": local, "hostPath": {"path": folder, "type": "Directory"}})
                mounts.append({**mount, "name": local})
            container["volumeMounts"] = mounts
            container["name"] = name.removeprefix("rymi-")
            containers.append(container)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "rymi-k8s-smoke"},
            "spec": {"hostAliases": [{"ip": "127.0.0.1", "hostnames": ["rymi-manager", "rymi-gateway", "rymi-plivo-sim"]}],
                     "securityContext": find(objects, "StatefulSet", "rymi-manager")["spec"]["template"]["spec"]["securityContext"],
                     "containers": containers, "volumes": volumes}}


def smoke(objects):
    directory = tempfile.mkdtemp(prefix="rymi-kube-")
    os.chmod(directory, 0o755)
    port = free_port()
    manifest = os.path.join(directory, "pod.yaml")
    with open(manifest, "w") as file:
        yaml.safe_dump(smoke_pod(objects, directory, port), file)
    pause_images = set(run(["podman", "images", "-q", "--filter", "reference=localhost/podman-pause"]).stdout.split())
    try:
        run(["podman", "kube", "play", manifest], timeout=120)
        api = f"http://127.0.0.1:{port}"
        wait("the gateway ready", lambda: http("GET", api + "/readyz")[0] == 200, 60)
        for container, executable in (("manager", "rymi-manager"), ("gateway", "rymi-gateway"), ("dialer", "rymi-dialer"),
                                      ("plivo-sim", "rymi-plivo-sim")):
            wait(f"{container}'s probe", lambda: run(["podman", "exec", f"rymi-k8s-smoke-{container}", executable, "--health-check"],
                                                     check=False).returncode == 0, 60)
        key = base64.b64decode(find(objects, "Secret", next(
            o["metadata"]["name"] for o in objects if o["kind"] == "Secret" and "api-keys" in o["data"]))["data"]["api-keys"]).decode().split(":", 1)[1]
        status, created = http("POST", api + "/v1/campaigns", key, {"name": "k8s smoke", "agent_id": "agent_1",
                                                                      "call_from_number": "+14155550100", "timezone": midday_zone()})
        assert status == 201, created
        campaign = created["campaign_id"]
        numbers = [{"phone_number": f"1555400{index:04d}"} for index in range(5)]
        assert http("POST", f"{api}/v1/campaigns/{campaign}/contacts", key, {"contacts": numbers})[0] == 201
        status, started = http("POST", f"{api}/v1/campaigns/{campaign}/start", key)
        assert status == 200, started
        wait("the campaign to complete", lambda: http("GET", f"{api}/v1/campaigns/{campaign}", key)[1]["status"] == "completed", 90)
        step("demo: podman kube play ran the manager, gateway, dialer and simulator as one pod; each probe passed; a campaign completed")
    finally:
        run(["podman", "kube", "down", manifest], check=False, timeout=120)
        # The pod's infra image, when podman built it for this run.
        made_pause = set(run(["podman", "images", "-q", "--filter", "reference=localhost/podman-pause"], check=False).stdout.split()) - pause_images
        if made_pause:
            run(["podman", "rmi", "-f"] + sorted(made_pause), check=False, timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


def check_all():
    for overlay in ("demo", "production"):
        objects = render(overlay)
        validate(overlay, objects)
        check(overlay, objects)
    build_image()
    smoke(render("demo"))


if __name__ == "__main__":
    run_test("k8s", check_all, remove_made_images)
