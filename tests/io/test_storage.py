"""The storage door's error contract against real S3 endpoints on 127.0.0.1: a missing bucket and refused
credentials are the user's to fix (one line, exit 2), an endpoint that does not answer is the environment's
(one line, exit 1, in seconds). Credentials are checked by a second moto server started with IAM
authentication on (moto accepts any key by default)."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
import time

import pytest

from vidray.cli import main
from vidray.errors import ConfigError
from vidray.io import storage
from vidray.io.storage import StorageRefused, StorageUnreachable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_auth():
    """An S3 endpoint that checks signatures (moto's IAM auth after its first 6 requests): user ``rw`` may
    do anything on S3, user ``none`` nothing; bucket ``locked``. Yields endpoint and keys."""
    import boto3

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1",
                               "-p", str(port)], env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "6"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "moto_server did not start"
                time.sleep(0.1)
        admin = {"endpoint_url": endpoint, "region_name": "us-east-1", "aws_access_key_id": "setup",
                 "aws_secret_access_key": "setup"}
        iam = boto3.client("iam", **admin)
        keys = {}
        for user in ("rw", "none"):  # 6 unauthenticated requests in all, then every request is checked
            iam.create_user(UserName=user)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (key["AccessKeyId"], key["SecretAccessKey"])
            if user == "rw":
                iam.put_user_policy(UserName=user, PolicyName="s3", PolicyDocument='{"Version": "2012-10-17", '
                                    '"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}')
        boto3.client("s3", **admin).create_bucket(Bucket="locked")
        yield {"endpoint": endpoint, **keys}
    finally:
        server.terminate()
        server.wait(timeout=10)


def use_keys(monkeypatch, endpoint: str, key: str, secret: str) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)


def closed_endpoint(monkeypatch) -> str:
    """Point the AWS environment at a port nothing listens on."""
    endpoint = f"http://127.0.0.1:{_free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    return endpoint


def test_an_existing_bucket_and_a_local_path_pass(s3_bucket, tmp_path):
    storage.check_location(f"{s3_bucket}/runs")
    storage.check_location(s3_bucket)
    storage.check_location(tmp_path / "not-yet")  # local folders are made when written


def test_a_missing_bucket_is_the_users_to_fix(s3_server):
    with pytest.raises(StorageRefused) as err:
        storage.check_location("s3://no-such-bucket/runs", flag="--storage")
    text = str(err.value)
    assert isinstance(err.value, ConfigError) and "\n" not in text
    assert text.startswith("--storage s3://no-such-bucket/runs: bucket 'no-such-bucket' does not exist at "
                           f"{s3_server}; create it"), text


def test_a_uri_without_a_bucket_is_the_users_to_fix():
    with pytest.raises(StorageRefused, match=r"^s3:///runs: .*Missing bucket name.*give s3://BUCKET/PREFIX"):
        storage.check_location("s3:///runs")


def test_credentials_are_checked_where_the_endpoint_checks_them(s3_auth, monkeypatch):
    key, secret = s3_auth["rw"]
    use_keys(monkeypatch, s3_auth["endpoint"], key, secret)
    storage.check_location("s3://locked/runs")  # the right key passes: the server is not refusing everyone
    storage.write_bytes("s3://locked/runs/x", b"x")

    use_keys(monkeypatch, s3_auth["endpoint"], key, "not-the-secret")
    with pytest.raises(StorageRefused, match=r"^--storage s3://locked/runs: credentials refused by "
                                             r"http://127\.0\.0\.1:\d+ \(SIGNATURE_DOES_NOT_MATCH: .*\); check "
                                             r"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        storage.check_location("s3://locked/runs", flag="--storage")

    use_keys(monkeypatch, s3_auth["endpoint"], "AKIANOSUCHKEY0000000", secret)
    with pytest.raises(StorageRefused, match=r"credentials refused .*INVALID_ACCESS_KEY_ID"):
        storage.check_location("s3://locked/runs")

    other, other_secret = s3_auth["none"]
    use_keys(monkeypatch, s3_auth["endpoint"], other, other_secret)
    with pytest.raises(StorageRefused, match=rf"access denied by .* for {other} \(ACCESS_DENIED.*grant it"):
        storage.check_location("s3://locked/runs")


def test_an_unreachable_endpoint_is_the_environments_and_fails_in_seconds(s3_server, monkeypatch):
    endpoint = closed_endpoint(monkeypatch)
    start = time.monotonic()
    with pytest.raises(StorageUnreachable) as err:
        storage.check_location("s3://any-bucket/runs", flag="--storage")
    assert time.monotonic() - start < 5
    assert not isinstance(err.value, ConfigError)
    assert str(err.value).startswith(f"--storage s3://any-bucket/runs: cannot reach the storage endpoint "
                                     f"{endpoint} (")
    assert "check AWS_ENDPOINT_URL" in str(err.value) and "\n" not in str(err.value)


def test_storage_errors_survive_pickling():  # raised in Ray workers, re-raised on the driver
    for error in (StorageRefused("s3://b/x", "why", "--storage"), StorageUnreachable("s3://b/x", "why")):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and str(again) == str(error)


def test_location_of_gives_uris_for_object_storage(s3_bucket, tmp_path):
    fs, path = storage.resolve(f"{s3_bucket}/runs/a")
    assert storage.location_of(fs, path) == f"{s3_bucket}/runs/a"
    fs, path = storage.resolve(tmp_path)
    assert storage.location_of(fs, path) == str(tmp_path)


def cli_exit(argv: list[str], capsys) -> tuple[int, list[str]]:
    code = main(argv)
    return code, capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize("command", ["train", "tune"])
def test_cli_missing_bucket_exits_2_with_one_line(command, s3_server, capsys):
    code, err = cli_exit([command, "--model", "convlstm", "--data", "x", "--storage", "s3://no-such-bucket/runs"],
                         capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"vidray {command}: error: --storage s3://no-such-bucket/runs: bucket "), err


@pytest.mark.parametrize("argv, flag", [
    (["synth", "videomnist", "s3://no-such-bucket/out"], "OUTPUT"),
    (["synth", "moving-mnist", "s3://no-such-bucket/out"], "OUTPUT"),
    (["embed", "videos.txt", "--output", "s3://no-such-bucket/out"], "--output"),
])
def test_data_jobs_check_an_output_bucket_before_ray_starts(argv, flag, s3_server, capsys, monkeypatch):
    def no_ray(args):
        raise AssertionError("Ray was started before the output was checked")

    for cli in ("vidray.synth.cli", "vidray.embed.cli"):
        monkeypatch.setattr(f"{cli}.ray_session_of", no_ray)
    code, err = cli_exit(argv, capsys)
    assert code == 2 and len(err) == 1, err
    assert f"{flag} s3://no-such-bucket/out: bucket 'no-such-bucket' does not exist" in err[0], err


def test_cli_wrong_credentials_exit_2_with_one_line(s3_auth, monkeypatch, capsys):
    use_keys(monkeypatch, s3_auth["endpoint"], s3_auth["rw"][0], "not-the-secret")
    code, err = cli_exit(["train", "--model", "convlstm", "--data", "x", "--storage", "s3://locked/runs"], capsys)
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("vidray train: error: --storage s3://locked/runs: credentials refused"), err


@pytest.mark.parametrize("command", ["train", "tune"])
def test_cli_unreachable_endpoint_exits_1_with_one_line(command, monkeypatch, capsys):
    endpoint = closed_endpoint(monkeypatch)
    start = time.monotonic()
    code, err = cli_exit([command, "--model", "convlstm", "--data", "x", "--storage", "s3://bucket/runs"], capsys)
    assert time.monotonic() - start < 5
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(f"vidray {command}: error: --storage s3://bucket/runs: cannot reach the storage "
                             f"endpoint {endpoint}"), err
