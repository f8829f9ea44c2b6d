"""Each browser and each API caller works in its own session; accounts keep theirs apart."""

from __future__ import annotations

import threading

import httpx
import pytest
from gradio_client import Client

from launch import build_sessions
from studio.history import HistoryError
from studio.recipe import Recipe
from tests.fake_engine import FakeEngine
from tests.servers import running_studio

RECIPE = {"prompt": "a lighthouse", "steps": 2, "width": 64, "height": 64}


def tiny_recipe(**changes) -> Recipe:
    return Recipe(prompt="a lighthouse", model="tiny", steps=3, width=64, height=64).replace(**changes)


def test_a_run_records_its_node_in_the_session_it_started_in(fake_engine, tmp_path):
    studio = build_sessions(fake_engine, tmp_path / "outputs")
    first, second = studio.open("first"), studio.open("second")
    started, go_on = threading.Event(), threading.Event()

    def slow_step(step):
        started.set()
        go_on.wait(timeout=30)

    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(node=first.generate(tiny_recipe(), on_step=slow_step)))
    worker.start()
    assert started.wait(timeout=60)
    # Meanwhile another caller works in (and switches to) other sessions.
    assert studio.open("second").tree() == [] and second.history.id == "second"
    go_on.set()
    worker.join(timeout=60)
    node = result["node"]
    assert [n.id for n in studio.open("first").tree()] == [node.id]
    assert studio.open("second").tree() == []
    assert (tmp_path / "outputs" / "first" / node.outputs[0]).is_file()
    assert not (tmp_path / "outputs" / "second").exists()


def test_two_sessions_running_at_once_keep_their_own_state(fake_engine, tmp_path):
    """A session is opened, never copied: besides the app-wide services, nothing it holds is another's. A new
    attribute added to Session is checked here too: this test looks at every one it has, not at a list."""
    sessions = build_sessions(fake_engine, tmp_path / "outputs")
    first, second = sessions.open("first"), sessions.open("second")
    # By design: the app-wide services (built once in launch.py), and the account's store of sessions.
    shared = {"services", "store"}
    for name, value in vars(first).items():
        if name not in shared:
            other = vars(second)[name]
            assert value is not other, f"Session.{name} is one object in two sessions"
            theirs = getattr(other, "__dict__", {})
            for key, part in getattr(value, "__dict__", {}).items():
                if isinstance(part, (dict, list, set)):  # empty too: a shared container fills up later
                    assert part is not theirs.get(key), f"Session.{name}.{key} is one object in two sessions"
    assert first.services is second.services is sessions.services and first.store is sessions.store

    # Both run at once, each with its own recipe: each records its own node, its own latest run, its own drafts.
    # (The engine takes one run at a time, as the real one's lane does: the sessions' calls overlap, its runs not.)
    both_started = threading.Barrier(2, timeout=30)
    made: dict = {}

    def run(session, prompt):
        both_started.wait()
        made[session.id] = session.generate(tiny_recipe(prompt=prompt))

    workers = [threading.Thread(target=run, args=pair) for pair in ((first, "a fox"), (second, "an owl"))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [n.recipe.prompt for n in first.tree()] == ["a fox"] and [n.recipe.prompt for n in second.tree()] == [
        "an owl"
    ]
    assert first.latest_run().node_id == made["first"].id and second.latest_run().node_id == made["second"].id
    first.drafts.save_form({"prompt": "unsent fox"})
    assert second.drafts.form() == {}
    first.history.set_mark(made["first"].id, 0, "keep")
    assert second.history.get(made["second"].id).marks[0].value == ""


def test_session_ids_and_accounts_cannot_leave_the_outputs_folder(fake_engine, tmp_path):
    studio = build_sessions(fake_engine, tmp_path / "outputs", per_account=True)
    for bad in ("../x", "a/b", ".hidden", "x" * 100):
        with pytest.raises(HistoryError, match="invalid session id"):
            studio.open(bad, account="ann")
    with pytest.raises(HistoryError, match="log in"):
        studio.open("s1", account=None)
    assert studio.open("s1", account="ann").history.folder == tmp_path / "outputs" / "ann" / "s1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_studio(FakeEngine(), tmp_path_factory.mktemp("session-outputs")) as (url, studio):
        yield url, studio


def test_api_callers_never_act_in_each_others_session(server):
    url, _ = server
    alice, bob = Client(url, verbose=False), Client(url, verbose=False)
    mine, _ = alice.predict({**RECIPE, "seed": 1}, api_name="/generate")
    theirs, _ = bob.predict({**RECIPE, "seed": 2}, api_name="/generate")
    assert mine["session"] != theirs["session"]
    assert mine["id"] == theirs["id"] == "00001"  # each session numbers its own nodes

    # bob varies and marks *his* 00001; alice's node is untouched.
    varied, _ = bob.predict("00001", 0, 2, 0.0, session=theirs["session"], api_name="/vary")
    assert varied["session"] == theirs["session"] and varied["parent_id"] == "00001"
    bob.predict("00001", 0, "reject", session=theirs["session"], api_name="/mark")
    alice_tree = alice.predict(session=mine["session"], api_name="/history")
    assert [n["id"] for n in alice_tree["nodes"]] == ["00001"]
    assert alice_tree["nodes"][0]["marks"] == [""] and alice_tree["nodes"][0]["recipe"]["seed"] == 1

    # A caller that names no session gets a new, empty one: never somebody else's node.
    with pytest.raises(Exception, match="no node '00001'"):
        bob.predict("00001", 0, 2, 0.0, api_name="/vary")


def test_a_session_switch_during_a_run_does_not_move_the_run(server):
    url, _ = server
    runner, switcher = Client(url, verbose=False), Client(url, verbose=False)
    first, _ = runner.predict({**RECIPE, "seed": 3}, api_name="/generate")
    session = first["session"]
    job = runner.submit({**RECIPE, "seed": 4, "steps": 8}, session, api_name="/generate")
    # The other caller moves between sessions and makes a picture of its own while the run goes on.
    other, _ = switcher.predict({**RECIPE, "seed": 5}, api_name="/generate")
    switcher.predict(session=other["session"], api_name="/history")
    node, pictures = job.result(timeout=120)
    assert node["session"] == session and node["id"] == "00002" and len(pictures) == 1
    tree = runner.predict(session=session, api_name="/history")
    assert [n["id"] for n in tree["nodes"]] == ["00001", "00002"]
    assert [n["id"] for n in switcher.predict(session=other["session"], api_name="/history")["nodes"]] == ["00001"]


def test_each_account_has_its_own_sessions_and_only_its_own_pictures(fake_engine, tmp_path):
    accounts = [("ann", "ann-password"), ("ben", "ben-password")]
    with running_studio(fake_engine, tmp_path / "outputs", auth=accounts, per_account=True) as (url, _):
        ann = Client(url, auth=accounts[0], verbose=False)
        ben = Client(url, auth=accounts[1], verbose=False)
        node, pictures = ann.predict({**RECIPE, "seed": 6}, api_name="/generate")
        picture = tmp_path / "outputs" / "ann" / node["session"] / node["outputs"][0]
        assert picture.is_file()

        # ben names ann's session: he gets an empty session of his own, never her nodes.
        assert ben.predict(session=node["session"], api_name="/history")["nodes"] == []
        assert node["session"] not in {s["id"] for s in ben.predict(api_name="/history")["sessions"]}
        assert node["session"] in {s["id"] for s in ann.predict(api_name="/history")["sessions"]}

        # The file route serves ann's picture to ann only.
        file_url = f"{url}gradio_api/file={picture}"

        def logged_in(user: str, password: str) -> httpx.Client:
            browser = httpx.Client()
            assert browser.post(f"{url}login", data={"username": user, "password": password}).status_code == 200
            return browser

        assert logged_in(*accounts[0]).get(file_url).status_code == 200
        refused = logged_in(*accounts[1]).get(file_url)
        assert refused.status_code == 403 and str(tmp_path) not in refused.text
        assert httpx.get(file_url).status_code in (401, 403)
