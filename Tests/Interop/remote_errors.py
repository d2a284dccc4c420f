"""Sends `dreamlake serve` what a careless or hostile client might, and checks
the status and JSON error body of each answer. Prints "ok" when every check
passes; raises on the first that does not.

Usage: python remote_errors.py <url> <valid token> <token signed with another secret> <another user's valid token>
"""
import sys

import httpx

url, token, foreign, other_user = sys.argv[1:5]
auth = {"Authorization": f"Bearer {token}"}
other = {"Authorization": f"Bearer {other_user}"}
client = httpx.Client(base_url=url, timeout=30.0)


def expect(response, status, what):
    if response.status_code != status:
        raise AssertionError(f"{what}: got {response.status_code} {response.text[:300]!r}, expected {status}")
    if status >= 400:
        body = response.json()  # every error has a JSON body
        if body.get("statusCode") != status or not body.get("message"):
            raise AssertionError(f"{what}: error body {body}")
    return response


expect(client.get("/health"), 200, "health needs no token")

# Tokens.
expect(client.post("/workspaces/w/sessions", json={"name": "s"}), 401, "no token")
expect(client.post("/workspaces/w/sessions", json={"name": "s"}, headers={"Authorization": "Bearer nonsense"}), 401,
       "a malformed token")
expect(client.post("/workspaces/w/sessions", json={"name": "s"}, headers={"Authorization": f"Bearer {foreign}"}), 401,
       "a token signed with another secret")
expect(client.post("/workspaces/w/sessions", json={"name": "s"}, headers={"Authorization": f"Basic {token}"}), 401,
       "not a bearer token")
tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
expect(client.get("/sessions/1/tracks", headers={"Authorization": f"Bearer {tampered}"}), 401, "an altered signature")

# A session to aim at.
created = expect(client.post("/workspaces/w/sessions", json={"name": "s"}, headers=auth), 200, "create").json()
sid = created["session"]["id"]
again = expect(client.post("/workspaces/w/sessions", json={"name": "s"}, headers=auth), 200, "create again").json()
assert again["session"]["id"] == sid, "the same session gets the same id"

# Another user: the workspace is its creator's (the server runs without --share or --grants).
expect(client.get(f"/sessions/{sid}/parameters", headers=other), 403, "another user reading")
expect(client.post(f"/sessions/{sid}/tracks/t/append", json={"data": {"v": 1}}, headers=other), 403, "another user appending")
expect(client.post("/workspaces/w/sessions", json={"name": "theirs"}, headers=other), 403, "another user creating a session")
expect(client.post("/workspaces/mine/sessions", json={"name": "s"}, headers=other), 200, "another user in a workspace of their own")
expect(client.get(f"/sessions/{sid}/tracks", headers=auth), 200, "the owner still reading")

# Unknown things.
expect(client.get("/sessions/12345/tracks", headers=auth), 404, "an unknown session")
expect(client.get(f"/sessions/{sid}/tracks/nope/stats", headers=auth), 404, "an unknown track")
expect(client.get(f"/sessions/{sid}/files/999", headers=auth), 404, "an unknown file")
expect(client.get(f"/sessions/{sid}/files/999/download", headers=auth), 404, "downloading an unknown file")
expect(client.delete(f"/sessions/{sid}/files/999", headers=auth), 404, "deleting an unknown file")
expect(client.get(f"/sessions/{sid}/parameters", headers=auth), 404, "parameters before any are set")
expect(client.get("/nowhere", headers=auth), 404, "an unknown endpoint")

# Malformed bodies.
bad = {**auth, "Content-Type": "application/json"}
expect(client.post(f"/sessions/{sid}/logs", content=b'{"logs": [', headers=bad), 400, "truncated JSON")
expect(client.post(f"/sessions/{sid}/logs", content=b'[1, 2]', headers=bad), 400, "not an object")
expect(client.post(f"/sessions/{sid}/logs", json={"logs": [{"message": "m", "level": "loud"}]}, headers=auth), 400,
       "an unknown level")
expect(client.post(f"/sessions/{sid}/logs", json={"logs": [{"message": "ok"}, {"message": 3}]}, headers=auth), 400,
       "one bad entry in a batch")
expect(client.post(f"/sessions/{sid}/logs", json={"logs": [{"message": "m", "timestamp": "yesterday"}]}, headers=auth),
       400, "a bad timestamp")
expect(client.post(f"/sessions/{sid}/tracks/t/append", json={"data": 5}, headers=auth), 400, "a point that is not an object")
expect(client.post(f"/sessions/{sid}/tracks/t/append-batch", json={"dataPoints": [{"v": 1}, 2]}, headers=auth), 400,
       "a batch with a bad point")
expect(client.get(f"/sessions/{sid}/tracks/t/data?startIndex=x", headers=auth), 400, "a startIndex that is not a number")
expect(client.post(f"/sessions/{sid}/parameters", json={"data": [1]}, headers=auth), 400, "parameters that are not an object")
expect(client.post("/workspaces/w/sessions", json={"name": 7}, headers=auth), 400, "a session name that is not a string")
deep = b"[" * 100000 + b"]" * 100000
expect(client.post(f"/sessions/{sid}/tracks/t/append", content=deep, headers=bad), 400, "JSON nested 100,000 deep")
# Nothing of the refused batches was written.
logs_ok = expect(client.post(f"/sessions/{sid}/logs", json={"logs": [{"message": "first"}]}, headers=auth), 200, "a log")
assert logs_ok.json()["startSequence"] == 0, f"refused batches wrote nothing: {logs_ok.json()}"
expect(client.get(f"/sessions/{sid}/tracks/t/stats", headers=auth), 404, "refused points wrote nothing")

# Oversize bodies (the server under test accepts at most 1 MiB of JSON and 1 MiB uploads).
big = {"dataPoints": [{"v": i, "pad": "x" * 100} for i in range(20000)]}
expect(client.post(f"/sessions/{sid}/tracks/t/append-batch", json=big, headers=auth), 413, "a 2 MB batch")
expect(client.post(f"/sessions/{sid}/files", files={"file": ("big.bin", b"\0" * (2 << 20))}, data={"prefix": "/"},
                   headers=auth), 413, "a 2 MiB upload")

# Names that would leave the store.
expect(client.post("/workspaces/%2E%2E/sessions", json={"name": "s"}, headers=auth), 400, "workspace ..")
expect(client.post("/workspaces/w/sessions", json={"name": "../../escaped"}, headers=auth), 400, "a session name with /")
expect(client.post("/workspaces/w/sessions", json={"name": ".."}, headers=auth), 400, "session ..")
expect(client.post(f"/sessions/{sid}/tracks/%2E%2E/x/append", json={"data": {"v": 1}}, headers=auth), 400, "track ../x")
expect(client.post(f"/sessions/{sid}/files", files={"file": ("../evil.txt", b"x")}, data={"prefix": "/"}, headers=auth),
       400, "an upload named ../evil.txt")
expect(client.post(f"/sessions/{sid}/files", files={"file": ("ok.txt", b"x")}, data={"prefix": "/../../up"},
                   headers=auth), 400, "an upload under /../../up")
expect(client.post(f"/sessions/{sid}/files", files={"file": ("ok.txt", b"x")},
                   data={"prefix": "/", "checksum": "00" * 32}, headers=auth), 400, "an upload whose checksum is wrong")
expect(client.post(f"/sessions/{sid}/files", content=b"not multipart", headers=bad), 400, "an upload that is not multipart")
semi = expect(client.post(f"/sessions/{sid}/files", files={"file": ("semi;colon.txt", b"x")}, data={"prefix": "/"},
                          headers=auth), 200, "an upload whose name holds a ;").json()
assert semi["filename"] == "semi;colon.txt", f"the name is kept whole: {semi}"
expect(client.delete(f"/sessions/{sid}/files/{semi['id']}", headers=auth), 200, "deleting it")

# Write protection.
locked = expect(client.post("/workspaces/w/sessions", json={"name": "locked", "writeProtected": True}, headers=auth), 200,
                "create write-protected").json()["session"]
assert locked["writeProtected"] is True, f"the session says it is protected: {locked}"
lid = locked["id"]
expect(client.post(f"/sessions/{lid}/logs", json={"logs": [{"message": "m"}]}, headers=auth), 403, "a log")
expect(client.post(f"/sessions/{lid}/tracks/t/append", json={"data": {"v": 1}}, headers=auth), 403, "a point")
expect(client.post(f"/sessions/{lid}/parameters", json={"data": {"a": 1}}, headers=auth), 403, "parameters")
expect(client.post(f"/sessions/{lid}/files", files={"file": ("a.txt", b"x")}, data={"prefix": "/"}, headers=auth), 403,
       "a file")
expect(client.post("/workspaces/w/sessions", json={"name": "locked", "description": "changed"}, headers=auth), 403,
       "changing its description")
expect(client.get(f"/sessions/{lid}/tracks", headers=auth), 200, "reading it")

expect(client.get("/health"), 200, "still serving")
print("ok")
