"""Artifacts pushed by real clients, read back through the Harbor API (with harborapi): an image by
skopeo, a Helm chart by oras in Helm's layout, an SBOM attached by oras; then quotas, search and
label attachment through harborapi too."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import oras.client
import oras.oci
from harborapi import HarborAsyncClient
from harborapi.models import Label, QuotaUpdateReq, ResourceList

from tests.charts import chart_archive
from tests.conftest import AUTH_FILE

from .helpers import V2, build_image, unique, write_oci_layout

HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
HARBOR_SBOM = "application/vnd.goharbor.harbor.sbom.v1"


async def test_real_clients_material_through_harborapi(berth, skopeo, tmp_path, monkeypatch):
    project = unique("clients")
    image = build_image(seed=121, layers=2, architecture="arm64")
    with V2(berth.url, auth=berth.auth) as v2:
        v2.create_project(project)
    layout = write_oci_layout(tmp_path / "layout", {"v1": image})
    env = {**os.environ, "REGISTRY_AUTH_FILE": str(AUTH_FILE)}
    copied = subprocess.run([skopeo, "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false",
                             f"oci:{layout}:v1", f"docker://{berth.host}/{project}/app:v1"],
                            capture_output=True, text=True, timeout=120, env=env)
    assert copied.returncode == 0, copied.stderr

    monkeypatch.chdir(tmp_path)  # oras pushes files below the working directory

    def oras_client() -> oras.client.OrasClient:
        # one client per repository: oras-py keeps the first bearer token for every later request
        client = oras.client.OrasClient(hostname=berth.host, insecure=True)
        client.auth.set_basic_auth(*berth.auth)
        return client

    Path("Chart.json").write_text(json.dumps({"name": "web", "version": "0.1.0", "apiVersion": "v2"}))
    Path("web-0.1.0.tgz").write_bytes(chart_archive({
        "web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n", "web/values.yaml": "port: 80\n"}))
    chart = oras_client().push(f"{berth.host}/{project}/charts/web:0.1.0", files=[f"web-0.1.0.tgz:{HELM_LAYER}"],
                        manifest_config=f"Chart.json:{HELM_CONFIG}", quiet=True)
    assert chart.status_code == 201
    Path("sbom.json").write_text('{"spdxVersion":"SPDX-2.3","name":"app"}')
    Path("empty.json").write_text("{}")
    subject = oras.oci.Subject(mediaType=image.media_type, digest=image.digest, size=len(image.manifest))
    sbom = oras_client().push(f"{berth.host}/{project}/app:sbom", files=["sbom.json:application/spdx+json"],
                       manifest_config=f"empty.json:{HARBOR_SBOM}", subject=subject, quiet=True)
    assert sbom.status_code == 201
    # a cosign-style signature: cosign's tag scheme and simple-signing payload, pushed by oras
    Path("payload.json").write_text(json.dumps({"critical": {"image": {"docker-manifest-digest": image.digest},
                                                             "type": "cosign container image signature"}}))
    signature_tag = "sha256-" + image.digest.split(":", 1)[1] + ".sig"
    signed = oras_client().push(f"{berth.host}/{project}/app:{signature_tag}",
                                files=["payload.json:application/vnd.dev.cosign.simplesigning.v1+json"],
                                manifest_config="empty.json:application/vnd.oci.image.config.v1+json", quiet=True)
    assert signed.status_code == 201

    harbor = HarborAsyncClient(url=f"{berth.url}/api/v2.0", username="admin", secret=berth.admin_password,
                               timeout=30, retry=None)
    artifacts = await harbor.get_artifacts(project, "app", with_accessory=True)
    assert [a.digest for a in artifacts] == [image.digest]  # the SBOM sits under its subject
    app = artifacts[0]
    assert app.type == "IMAGE" and app.extra_attrs.root["architecture"] == "arm64"
    assert sorted((acc.type, acc.subject_artifact_digest) for acc in app.accessories) == [
        ("sbom.harbor", image.digest), ("signature.cosign", image.digest)]
    web = await harbor.get_artifact(project, "charts/web", "0.1.0")
    assert web.type == "CHART" and web.media_type == HELM_CONFIG and web.extra_attrs.root["name"] == "web"

    label_location = await harbor.create_label(Label(name=unique("reviewed"), scope="g"))
    label_id = int(label_location.rsplit("/", 1)[1])
    await harbor.add_artifact_label(project, "app", "v1", Label(id=label_id))
    assert [label.id for label in (await harbor.get_artifact(project, "app", "v1", with_label=True)).labels] == [label_id]
    await harbor.delete_artifact_label(project, "app", "v1", label_id)

    found = await harbor.search(project)
    assert {r.repository_name for r in found.repository} == {f"{project}/app", f"{project}/charts/web"}
    project_id = (await harbor.get_project(project)).project_id
    quota = (await harbor.get_quotas(reference="project", reference_id=project_id))[0]
    assert quota.used.root["storage"] > 0
    await harbor.update_quota(quota.id, QuotaUpdateReq(hard=ResourceList({"storage": 1024**3})))
    assert (await harbor.get_quota(quota.id)).hard.root == {"storage": 1024**3}
