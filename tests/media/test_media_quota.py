"""Media quotas: a batch that would take a user past their media quota is refused with a
message the client shows, and nothing of it is stored; a batch that frees room passes.
Every backend."""

from __future__ import annotations

import json

from domain.quotas import Quotas
from tests.media.support import Account, MediaApi, upload_zip

MB = 1024 * 1024


def _quota(api: MediaApi, account: Account, media_mb: int | None) -> None:
    api.services.accounts.set_quotas(account.name, Quotas(media_mb=media_mb))


def test_an_upload_past_the_quota_is_refused_and_stores_nothing(
    media_api: MediaApi, account: Account
) -> None:
    _quota(media_api, account, 1)
    media = media_api.media
    assert media.upload_ok(account.key, {"small.bin": b"x" * (MB * 45 // 100)}) == [1, 1]
    before = media_api.snapshot(account)
    reply = json.loads(media.upload(account.key, upload_zip(
        {"big.bin": b"y" * (MB * 6 // 10)})).payload)
    assert set(reply) == {"err"}
    assert "larger than this server allows for your account (1 MB)" in reply["err"]
    assert media_api.snapshot(account) == before  # no entry, no usn, no file
    # Replacing the file by a smaller one, or deleting it, always passes.
    assert media.upload_ok(account.key, {"small.bin": b"z" * 10}) == [1, 2]
    assert media.upload_ok(account.key, {"big.bin": b"y" * (MB * 6 // 10)}) == [1, 3]


def test_zero_means_no_limit_and_the_server_default_applies_otherwise(
    media_api: MediaApi, account: Account
) -> None:
    _quota(media_api, account, 0)
    for i in range(3):  # 2.7 MB in all, in batches under the test server's size limits
        assert media_api.media.upload_ok(account.key, {f"{i}.bin": b"a" * (MB * 9 // 10)}
                                         ) == [1, i + 1]
    _quota(media_api, account, None)  # the test server's default: no limit
    assert media_api.media.upload_ok(account.key, {"b.bin": b"b" * (MB * 9 // 10)}) == [1, 4]
