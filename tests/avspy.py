"""Counting the work PyAV does, from the test side: every call goes through to the real PyAV."""
import av


class Counted:
    """A real PyAV input container that counts the seeks made on it and the frames its decoder gives."""

    def __init__(self, container, log):
        self._container, self.seeks, self.decoded = container, 0, 0
        log.append(self)

    def __getattr__(self, name):
        return getattr(self._container, name)

    def __enter__(self):
        self._container.__enter__()
        return self

    def __exit__(self, *exc):
        return self._container.__exit__(*exc)

    def seek(self, *args, **kwargs):
        self.seeks += 1
        return self._container.seek(*args, **kwargs)

    def decode(self, *args, **kwargs):
        for frame in self._container.decode(*args, **kwargs):
            self.decoded += 1
            yield frame


def count_opened(monkeypatch) -> list[Counted]:
    """From now on (until monkeypatch undoes it) every av.open gives a Counted container, listed here."""
    real_open, opened = av.open, []
    monkeypatch.setattr(av, "open", lambda *a, **kw: Counted(real_open(*a, **kw), opened))
    return opened
