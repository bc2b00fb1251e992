"""Version numbers: a model trained here numbers after every folder the worker loads from, shipped models included."""

from understudy_trainer.train import next_version


def test_a_new_version_numbers_after_its_own_folder_and_the_shipped_one(tmp_path):
    trained, shipped = tmp_path / "trained", tmp_path / "shipped"
    (shipped / "prophet-v3").mkdir(parents=True)
    (shipped / "lstm-v2").mkdir()
    (shipped / "baselines-v9").mkdir()  # not a trained kind: not counted
    # The state folder does not exist before the first retrain.
    assert next_version(trained) == 1
    assert next_version(trained, [shipped]) == 4
    (trained / "lstm-v4").mkdir(parents=True)
    (trained / ".prophet-v7.tmp").mkdir()  # half-written: not a version
    assert next_version(trained, [shipped]) == 5
