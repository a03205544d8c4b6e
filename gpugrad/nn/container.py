"""ModuleList and ModuleDict: holders that register their modules (so parameters(), state_dict(),
to() and train() see them), as in PyTorch. Keys in the state_dict are "0", "1", ... and the
dict's keys. Neither defines forward: the owner decides how to call them."""
from __future__ import annotations

from collections import OrderedDict

from .module import Module


def _check(cls, i, m):
    if not isinstance(m, Module):
        raise TypeError(f"{cls}: entry {i!r} is a {type(m).__name__}, not a Module")
    return m


class ModuleList(Module):
    """A list of Modules: append, extend, insert, indexing (a slice gives a ModuleList), len, iter."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"ModuleList: index {i} is out of range for {n} modules")
        return i % n

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return ModuleList(mods[i])
        return mods[self._index(i)]

    def __setitem__(self, i: int, module: Module) -> None:
        self.add_module(str(self._index(i)), _check("ModuleList", i, module))

    def __delitem__(self, i) -> None:
        mods = list(self._modules.values())
        del mods[i if isinstance(i, slice) else self._index(i)]
        self._modules.clear()
        for j, m in enumerate(mods):      # renumber so the keys stay 0..n-1, as PyTorch
            self.add_module(str(j), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __iadd__(self, modules):
        return self.extend(modules)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self)), _check("ModuleList", len(self), module))
        return self

    def extend(self, modules) -> "ModuleList":
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, _check("ModuleList", index, module))
        self._modules.clear()
        for j, m in enumerate(mods):
            self.add_module(str(j), m)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward(); iterate over it in your module's forward")


class ModuleDict(Module):
    """A dict of Modules by string key, in insertion order: [], keys, values, items, update, pop, in."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        try:
            return self._modules[key]
        except KeyError:
            raise KeyError(f"ModuleDict: no module {key!r}; keys are {list(self._modules)}") from None

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict: keys must be strings, got {type(key).__name__}")
        self.add_module(key, _check("ModuleDict", key, module))

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key) -> bool:
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def pop(self, key: str) -> Module:
        m = self[key]
        del self._modules[key]
        return m

    def clear(self) -> None:
        self._modules.clear()

    def update(self, modules) -> None:
        items = modules.items() if isinstance(modules, (dict, OrderedDict, ModuleDict)) else modules
        for key, m in items:
            self[key] = m

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward(); index it in your module's forward")
