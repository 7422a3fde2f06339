"""What a job's environment gets for each QPU: the non-secret settings, qrmid's
proxy as the endpoint, and a job-scoped credential in place of the site's.

- ibm-quantum-compute-service: the job's IAM endpoint is qrmid (``/iam/<qpu>``)
  and its API key is a job key; qrmid exchanges that key for short-lived bearer
  tokens, and its proxy (``/proxy/<qpu>/v1``) swaps them for the site's real IAM
  token before forwarding to the real service.
- pasqal-cloud: the job's static auth token is a job token; the base URL is
  qrmid's proxy, which swaps it for the site's token.
- iqm-server: the job's ISA token is a job token; the ISA endpoint is qrmid's root URL,
  where the IQM Server API is served for the QPU the job token names (IQM's client
  takes a root URL only; ``/proxy/<qpu>`` serves the same), and the proxy swaps the
  token for the site's (none when the site's IQM Server takes no token).

Every credential is a JWT that qrmid signs (job_tokens.py: claims name the job, its
cluster, user, acquisition and QPU), so the vendors' clients that decode their tokens
accept it; only digests are stored. Both die with the acquisition (release, reaper,
hold deadline).
Other QRMI types get no credential at all: qrmid never exports a site secret.
"""

from __future__ import annotations

import hashlib

from qrmid.config import Resource

# keys that must never reach a job, whatever the resource type
PROXY_TYPES = ("ibm-quantum-compute-service", "pasqal-cloud", "ibm-quantum-system", "iqm-server")
DROP_FOR_JOB = {
    "ibm-quantum-compute-service": {"QRMI_IBM_QCS_IAM_APIKEY", "QRMI_IBM_QCS_IAM_ENDPOINT", "QRMI_IBM_QCS_ENDPOINT"},
    "ibm-quantum-system": {
        "QRMI_IBM_QS_IAM_APIKEY",
        "QRMI_IBM_QS_IAM_ENDPOINT",
        "QRMI_IBM_QS_ENDPOINT",
        "QRMI_IBM_QS_AWS_ACCESS_KEY_ID",
        "QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY",
        "QRMI_IBM_QS_S3_ENDPOINT",
        "QRMI_IBM_QS_S3_ENDPOINT_FOR_QSAPI",
        "QRMI_IBM_QS_S3_BUCKET",
    },
    "pasqal-cloud": {
        "QRMI_PASQAL_CLOUD_AUTH_TOKEN",
        "QRMI_PASQAL_CLOUD_CLIENT_SECRET",
        "QRMI_PASQAL_CLOUD_CLIENT_ID",
        "QRMI_PASQAL_CLOUD_AUTH_ENDPOINT",
        "QRMI_PASQAL_CLOUD_BASE_URL",
    },
    "iqm-server": {"QRMI_IQM_ISA_TOKEN", "QRMI_IQM_ISA_ENDPOINT"},
}


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def job_environment(
    resource: Resource, public_url: str, credential: str, qrmi_token: str, timeout_s: int, s3_secret: str = ""
) -> dict[str, str]:
    """The `<name>_…` variables one QPU contributes to a job's environment."""
    name = resource.name
    settings = {k: v for k, v in resource.environment.items() if k not in DROP_FOR_JOB.get(resource.type, set())}
    # defence in depth: a secret key listed by the model never passes, even if also in settings
    for key in resource.secrets:
        settings.pop(key, None)
    if resource.type == "ibm-quantum-compute-service":
        settings["QRMI_IBM_QCS_ENDPOINT"] = f"{public_url}/proxy/{name}/v1"
        settings["QRMI_IBM_QCS_IAM_ENDPOINT"] = f"{public_url}/iam/{name}"
        settings["QRMI_IBM_QCS_IAM_APIKEY"] = credential
    elif resource.type == "ibm-quantum-system":
        # the QS API and IAM as for the Compute Service; S3 through qrmid's S3 gate, whose "bucket" is the
        # QPU's name and whose key pair is the job key and a secret derived from it (ibm_qs.py)
        settings["QRMI_IBM_QS_ENDPOINT"] = f"{public_url}/proxy/{name}"
        settings["QRMI_IBM_QS_IAM_ENDPOINT"] = f"{public_url}/iam/{name}"
        settings["QRMI_IBM_QS_IAM_APIKEY"] = credential
        settings["QRMI_IBM_QS_S3_ENDPOINT"] = f"{public_url}/s3/"
        settings["QRMI_IBM_QS_S3_BUCKET"] = name
        settings["QRMI_IBM_QS_AWS_ACCESS_KEY_ID"] = credential
        settings["QRMI_IBM_QS_AWS_SECRET_ACCESS_KEY"] = s3_secret
    elif resource.type == "pasqal-cloud":
        settings["QRMI_PASQAL_CLOUD_BASE_URL"] = f"{public_url}/proxy/{name}"
        settings["QRMI_PASQAL_CLOUD_AUTH_TOKEN"] = credential
    elif resource.type == "iqm-server":
        # qrmid's root: IQM's own client takes a server's root URL only; qrmid serves the IQM Server
        # API there for iqm-server job tokens (qrmi's iqm-server resource reads the same variable)
        settings["QRMI_IQM_ISA_ENDPOINT"] = public_url
        settings["QRMI_IQM_ISA_TOKEN"] = credential
    env = {f"{name}_{k}": v for k, v in settings.items()}
    env[f"{name}_QRMI_JOB_ACQUISITION_TOKEN"] = qrmi_token
    env[f"{name}_QRMI_JOB_TIMEOUT_SECONDS"] = str(timeout_s)
    return env
