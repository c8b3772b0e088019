"""The arena's routes through the gateway (in this process, over its ASGI app): the page,
pairs, blind votes, the leaderboard, the CLI that reads the same store, and what a virtual key
may see."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from tests.support.cli import invoke
from tests.support.gateway import gateway_app
from tests.support.replay import ReplayServer

MASTER = "wb-master-for-arena-tests-0123456789"
PRICE = '{ input_per_mtok = 0.15, output_per_mtok = 0.6, as_of = "2024-07-18", source = "test" }'


def two_models(url: str) -> str:
    return f"""
[providers.replay]
type = "openai"
base_url = "{url}"

[models.cloud-a]
provider = "replay"
model = "gpt-4o-mini"
price = {PRICE}

[models.cloud-b]
provider = "replay"
model = "gpt-4o-mini"
price = {PRICE}
"""


def completion(text: str) -> dict[str, object]:
    return {
        "id": "chatcmpl-upstream",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


def ask(http: TestClient, model: str, headers: dict[str, str] | None = None) -> str:
    answer = http.post(
        "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "Name a colour."}]},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    if model.startswith("blind:"):  # nothing the page receives names the model before the vote
        assert answer.json()["model"] == model
        assert not [h for h in answer.headers if h.startswith("x-weighbridge")]
    return str(answer.json()["id"])


def test_page_pair_vote_and_leaderboard(upstream: ReplayServer, home: Path) -> None:
    with gateway_app(home, config=two_models(upstream.url)) as http:
        page = http.get("/")
        assert page.status_code == 200 and "<title>weighbridge arena</title>" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "http://" not in page.text and "https://" not in page.text  # nothing from another host
        for asset in ("app.js", "app.css"):
            served = http.get(f"/static/{asset}")
            assert served.status_code == 200 and "http" not in served.text.replace("http-equiv", "")
        models = {m["id"]: m for m in http.get("/arena/models").json()["models"]}
        assert models["cloud-a"]["runnable"] and models["cloud-b"]["runnable"]
        assert not models["gpt-5"]["runnable"] and "OPENAI_API_KEY" in models["gpt-5"]["reason"]

        pair = http.post("/arena/pair", json={"pool": ["cloud-a", "cloud-b", "gpt-5"]}).json()
        assert (pair["a"], pair["b"]) == (f"blind:{pair['pair']}:a", f"blind:{pair['pair']}:b")
        upstream.reply_json(completion("red"))
        upstream.reply_json(completion("blue"))
        id_a, id_b = ask(http, pair["a"]), ask(http, pair["b"])
        assert id_a.startswith("chatcmpl-")

        forged = {"pair": pair["pair"], "outcome": "a", "prompt": "Name a colour.", "task": "Code"}
        swapped = http.post("/arena/vote", json={**forged, "inference_a": id_b, "inference_b": id_a})
        assert swapped.status_code == 400
        vote = http.post("/arena/vote", json={**forged, "inference_a": id_a, "inference_b": id_b})
        assert vote.status_code == 200, vote.text
        revealed = vote.json()
        assert {revealed["a"], revealed["b"]} == {"cloud-a", "cloud-b"}  # gpt-5 cannot run: not drawn
        assert revealed["task"] == "code"
        again = http.post("/arena/vote", json={**forged, "inference_a": id_a, "inference_b": id_b})
        assert again.status_code == 400  # a pair takes one vote

        board = http.get("/arena/leaderboard", params={"task": "code"}).json()
        assert board["votes"] == 1 and board["tasks"] == ["code"]
        winner = board["models"][0]
        assert winner["model"] == revealed["a"] and winner["votes"] == 1
        assert winner["median_latency_ms"] > 0 and winner["cost_per_1k_prompts_usd"] > 0
        assert board["matrix"][revealed["a"]][revealed["b"]] == {"win_rate": 1.0, "games": 1}
        figures = http.get("/arena/inference/" + id_a).json()
        assert figures["cost_usd"] > 0 and figures["completion_tokens"] == 5

        bad = http.post("/arena/pair", json={"pool": ["cloud-a"]})
        assert bad.status_code == 400

    printed = invoke("arena", "leaderboard", "--json")
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout)["models"][0]["model"] == revealed["a"]
    table = invoke("arena", "leaderboard", "--task", "code")
    assert revealed["a"] in table.stdout and "1 votes" in table.stdout
    exported = [json.loads(line) for line in invoke("arena", "export").stdout.splitlines()]
    assert len(exported) == 1 and exported[0]["outcome"] == "a"
    assert exported[0]["inference_a"] == "wb-" + id_a.removeprefix("chatcmpl-")
    assert len(exported[0]["prompt_sha256"]) == 64 and exported[0]["key_name"] == "local"


def test_a_key_sees_its_models_and_its_own_votes(upstream: ReplayServer, home: Path) -> None:
    with gateway_app(home, master_key=MASTER, config=two_models(upstream.url)) as http:
        assert http.get("/").status_code == 200  # the page itself asks for the key
        assert http.get("/arena/models").status_code == 401
        assert http.get("/arena/leaderboard").status_code == 401
        made = invoke("keys", "create", "--name", "team", "--models", "cloud-a,cloud-b")
        assert made.returncode == 0, made.stderr
        key = {"Authorization": "Bearer " + made.stdout.strip()}
        master = {"Authorization": "Bearer " + MASTER}
        listed = http.get("/arena/models", headers=key).json()["models"]
        assert sorted(m["id"] for m in listed) == ["cloud-a", "cloud-b"]

        pair = http.post("/arena/pair", json={"pool": ["cloud-a", "cloud-b"]}, headers=master).json()
        upstream.reply_json(completion("red"))
        upstream.reply_json(completion("blue"))
        ids = ask(http, pair["a"], master), ask(http, pair["b"], master)
        stolen = http.post(
            "/v1/chat/completions",
            json={"model": pair["a"], "messages": [{"role": "user", "content": "hi"}]},
            headers=key,
        )
        assert stolen.status_code == 404  # another caller's blind alias names nothing
        body = {
            "pair": pair["pair"],
            "outcome": "tie",
            "prompt": "p",
            "inference_a": ids[0],
            "inference_b": ids[1],
        }
        assert http.post("/arena/vote", json=body, headers=key).status_code == 400  # not its pair
        assert http.post("/arena/vote", json=body, headers=master).status_code == 200
        assert http.get("/arena/leaderboard", headers=master).json()["votes"] == 1
        assert http.get("/arena/leaderboard", headers=key).json()["votes"] == 0
        assert http.get("/arena/inference/" + ids[0], headers=key).status_code == 404


def test_the_page_rides_an_httponly_cookie_with_csrf(upstream: ReplayServer, home: Path) -> None:
    with gateway_app(home, master_key=MASTER, config=two_models(upstream.url)) as http:
        assert http.post("/session", headers={"Authorization": "Bearer wb-wrong"}).status_code == 401
        assert not http.cookies  # refused, nothing was kept: the page starts signed out
        page = http  # from here on the client's cookie jar is the browser's
        opened = page.post("/session", headers={"Authorization": "Bearer " + MASTER})
        assert opened.status_code == 200, opened.text
        cookie = opened.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain http here; under TLS it is Secure
        assert MASTER not in opened.text and MASTER.lower() not in cookie
        csrf = opened.json()["csrf"]
        assert page.get("/session").json() == {"caller": "master", "csrf": csrf}
        assert page.get("/arena/models").status_code == 200  # the cookie alone reads

        pool = {"pool": ["cloud-a", "cloud-b"]}
        refused = page.post("/arena/pair", json=pool)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
        assert page.post("/arena/pair", json=pool, headers={"X-CSRF-Token": "forged"}).status_code == 403
        assert page.post("/arena/pair", json=pool, headers={"X-CSRF-Token": csrf}).status_code == 200
        other_site = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
        assert page.post("/arena/pair", json=pool, headers=other_site).status_code == 403

        assert page.delete("/session", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert page.get("/arena/models").status_code == 401  # signed out: the cookie is gone

        made = invoke("keys", "create", "--name", "visitor", "--models", "cloud-a")
        assert page.post("/session", headers={"Authorization": "Bearer " + made.stdout.strip()}).is_success
        assert [m["id"] for m in page.get("/arena/models").json()["models"]] == ["cloud-a"]
        assert invoke("keys", "revoke", "visitor").returncode == 0
        assert page.get("/arena/models").status_code == 401  # a revoked key ends its sessions


def test_an_open_gateway_refuses_other_sites_pages(home: Path) -> None:
    with gateway_app(home) as http:
        body = {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "hi"}]}
        for browser_says in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
            answer = http.post("/v1/chat/completions", json=body, headers=browser_says)
            assert answer.status_code == 403 and "another site" in answer.json()["error"]["message"]
        assert http.get("/arena/models", headers={"Origin": "http://evil.example"}).status_code == 200
        with_a_key = {"Origin": "app://desktop-client", "Authorization": "Bearer sk-anything"}
        not_csrf = http.post("/arena/pair", json={"pool": []}, headers=with_a_key)
        assert not_csrf.status_code == 400  # past the gate: a key header is no ambient credential
