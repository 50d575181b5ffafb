"""Model checks before any training (`xstilts plan`): does each model resolve, does its config
load into a family that supports the spec's task kinds, does its tokenizer have what they need.

Offline-safe and fast: local folders and the local Hugging Face cache are read as files; the Hub
is asked only whether it is reachable (once per process, `xstilts.hub.hub_reachable`), and a
model's config is fetched from it only when it is reachable and the model is not cached. Every
problem found is returned, not only the first. `deep=True` also loads the tokenizer and
tokenizes a sample as the task kinds will.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import xstilts.hub
from xstilts.data.formatting import InputFormat
from xstilts.errors import Problem, XStiltsError
from xstilts.kinds import KINDS, handler_named
from xstilts.models.backbone import (
    BackboneOptions,
    BuiltinModels,
    Family,
    attention_problem,
    attention_support,
    builtin_model,
    detect_family,
    load_tokenizer,
    looks_local,
)

log = logging.getLogger(__name__)

KIND_NAMES = tuple(KINDS.names())
OFFSET_KINDS = frozenset(k for k in KIND_NAMES if handler_named(k).needs_offsets)  # answer spans and word alignment use offsets
WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
TORCH_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
# A tokenizer is present when one of these is: the fast tokenizer file, or files it converts from.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "sentencepiece.bpe.model", "spiece.model", "spm.model", "vocab.txt", "vocab.json")
SAMPLE = ("The committee approved the proposal on Tuesday.", "Did the committee approve it?")

# A file of a model: its local path, or None when the model does not have it.
FileLookup = Callable[[str], Path | None]


def check_model(name: str, path: str, options: BackboneOptions, kinds: Iterable[str], deep: bool = False) -> list[Problem]:
    """Everything that would make loading model `name` (at `path`) for `kinds` fail."""
    subject = f"model {name}"
    kinds = list(dict.fromkeys(kinds))
    problems = [
        Problem(subject, f"unknown task kind {k!r}", f"use one of {', '.join(KIND_NAMES)}") for k in kinds if k not in KIND_NAMES
    ]
    before = len(problems)
    builtin = builtin_model(path)
    if builtin is not None:
        folder = _builtin_folder(*builtin, path, subject, problems)
        if folder is None:
            return problems
        lookup: FileLookup | None = _folder_lookup(folder)
        source = str(folder)
    elif looks_local(path):
        lookup = _local_lookup(Path(path).expanduser(), subject, problems)
        source = path
        if lookup is None:
            return problems
    else:
        lookup = _hub_lookup(path, options, subject, problems)
        source = path
        if lookup is None and len(problems) > before:
            return problems
    config = _load_config(source, lookup, options, subject, problems)
    family = _check_config(config, options, subject, problems) if config is not None else None
    if lookup is not None:
        _check_weights(lookup, subject, problems)
        _check_tokenizer_files(lookup, family, kinds, subject, problems)
    if deep and family is not None and len(problems) == before:
        _check_tokenizer_deep(source, family, options, kinds, subject, problems)
    return problems


# -- resolving --------------------------------------------------------------------------------------
def _builtin_folder(models: BuiltinModels, name: str, path: str, subject: str, problems: list[Problem]) -> Path | None:
    """A plug-in model's folder when a copy exists (made or shipped); None when it will be made at
    run time (not a problem: nothing to check yet) or the name is wrong."""
    if name not in models.names:
        choices = ", ".join(models.path_of(n) for n in models.names[:-1]) + f" or {models.path_of(models.names[-1])}"
        problems.append(Problem(subject, f"{path!r} is not a {models.prefix} model", f"use {choices}"))
        return None
    return models.existing(name)


def _folder_lookup(folder: Path) -> FileLookup:
    def lookup(filename: str) -> Path | None:
        candidate = folder / filename
        return candidate if candidate.is_file() else None

    return lookup


def _local_lookup(folder: Path, subject: str, problems: list[Problem]) -> FileLookup | None:
    """Checks of a local model folder; its file lookup, or None when there is no folder to read."""
    if not folder.exists():
        problems.append(Problem(subject, f"local folder {folder.absolute()} does not exist", "check the path (relative paths start from where xstilts runs), or give a hub id such as org/name"))
        return None
    if not folder.is_dir():
        problems.append(Problem(subject, f"{folder} is a file, not a model folder", "give the folder that holds config.json, the weights and the tokenizer"))
        return None
    if not any(folder.iterdir()):
        problems.append(Problem(subject, f"local folder {folder} is empty", f"download the model into it: huggingface-cli download <org/name> --local-dir {folder}"))
        return None
    lookup = _folder_lookup(folder)
    if lookup("config.json") is None:
        problems.append(Problem(subject, f"{folder} has no config.json", "give the folder of a Hugging Face model (save_pretrained writes config.json)"))
    names = {p.name for p in folder.iterdir()}
    if not any(w in names for w in WEIGHTS) and not any(n.endswith(".safetensors") for n in names):
        if any(w in names for w in TORCH_WEIGHTS) or any(n.endswith(".bin") for n in names):
            problems.append(Problem(
                subject, f"{folder} has PyTorch .bin weights only; xstilts loads safetensors only (pickled .bin files can run code)",
                f"convert once: python -c \"from transformers import AutoModel as M; M.from_pretrained('{folder}', use_safetensors=False).save_pretrained('{folder}')\"",
            ))
        else:
            problems.append(Problem(subject, f"{folder} has no model weights (model.safetensors)", "copy the weights into the folder, or save the model there with save_pretrained"))
    return lookup


def _hub_lookup(repo: str, options: BackboneOptions, subject: str, problems: list[Problem]) -> FileLookup | None:
    """For a hub id: a lookup into the local cache when its config is cached; None when the
    files must come from the Hub (reachable) or cannot come at all (a problem is added)."""
    from huggingface_hub import try_to_load_from_cache  # lazy: loads huggingface_hub
    from huggingface_hub.errors import HFValidationError  # lazy: loads huggingface_hub

    revision = options.revision

    def lookup(filename: str) -> Path | None:
        found = try_to_load_from_cache(repo, filename, revision=revision)
        return Path(found) if isinstance(found, str) else None

    try:
        cached = lookup("config.json") is not None
    except HFValidationError:
        problems.append(Problem(subject, f"{repo!r} is neither an existing folder nor a valid hub id", "give a local model folder, or a hub id such as org/name"))
        return None
    if xstilts.hub.hub_reachable():
        return lookup if cached else None
    if not cached:
        problems.append(Problem(
            subject, f"hub id {repo} is not in the local Hugging Face cache and the Hub is not reachable (offline)",
            f"download it where the Hub is reachable (huggingface-cli download {repo}), or give a local folder path",
        ))
        return None
    if not any(lookup(w) for w in WEIGHTS):
        problems.append(Problem(
            subject, f"the cached copy of {repo} has no safetensors weights and the Hub is not reachable (offline)",
            f"download them where the Hub is reachable (huggingface-cli download {repo} --include '*.safetensors' '*.json')",
        ))
    return lookup


# -- weights ----------------------------------------------------------------------------------------
def _check_weights(lookup: FileLookup, subject: str, problems: list[Problem]) -> None:
    """Each safetensors file present (single or sharded) has a whole header and every byte its
    tensors need: a truncated download is caught here, from the header alone, not at run time."""
    files = [lookup("model.safetensors")]
    index = lookup("model.safetensors.index.json")
    if index is not None:
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            problems.append(Problem(subject, f"{index} is not a readable safetensors index ({_first_line(err)})", "download or save the weights again"))
            shards = []
        for shard in shards:
            found = lookup(shard)
            if found is None:
                problems.append(Problem(subject, f"{index} names the shard {shard}, which is missing", "download or save the weights again"))
            files.append(found)
    for path in files:
        damage = _safetensors_damage(path) if path is not None else None
        if damage:
            problems.append(Problem(subject, f"{path}: {damage}", "download or save the weights again (an interrupted copy?)"))


def _safetensors_damage(path: Path) -> str | None:
    """What is wrong with a safetensors file, read from its 8-byte header length and JSON header."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"truncated safetensors file ({size} bytes, shorter than its 8-byte header length)"
            length = int.from_bytes(head, "little")
            if 8 + length > size:
                return f"truncated safetensors file (its header needs {8 + length} bytes, the file has {size})"
            header = json.loads(f.read(length))
        end = max((int(t["data_offsets"][1]) for k, t in header.items() if k != "__metadata__"), default=0)
    except OSError as err:
        return f"cannot be read ({err.strerror or err})"
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        return f"not a safetensors file (damaged header: {_first_line(err)})"
    if 8 + length + end > size:
        return f"truncated safetensors file ({size} bytes; its tensors need {8 + length + end})"
    return None


# -- config -----------------------------------------------------------------------------------------
def _load_config(source: str, lookup: FileLookup | None, options: BackboneOptions, subject: str, problems: list[Problem]) -> Any:
    from transformers import AutoConfig  # lazy: loads transformers

    config_file = lookup("config.json") if lookup is not None else None
    if lookup is not None and config_file is None:
        return None  # reported by the caller's resolution step
    if config_file is not None:
        try:
            json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            problems.append(Problem(subject, f"{config_file} is not valid JSON ({_first_line(err)})", "restore config.json from the model's original files"))
            return None
    try:
        if config_file is not None:
            # From the file's folder: a cached hub copy or a local folder, never the network.
            return AutoConfig.from_pretrained(str(config_file.parent), trust_remote_code=options.trust_remote_code)
        return AutoConfig.from_pretrained(source, trust_remote_code=options.trust_remote_code, revision=options.revision)
    except (OSError, ValueError, KeyError) as err:
        text = _first_line(err)
        if "trust_remote_code" in text:
            fix = "set trust_remote_code: true on the model if you trust its repository's code"
        elif "model_type" in text or "Unrecognized" in text or isinstance(err, KeyError):
            fix = "upgrade transformers to a version that knows this model type, or use another model"
        else:
            fix = "check that the model's config.json is complete"
        problems.append(Problem(subject, f"config does not load ({type(err).__name__}: {text})", fix))
        return None


def _check_config(config: Any, options: BackboneOptions, subject: str, problems: list[Problem]) -> Family | None:
    try:
        family = detect_family(config, options.family)
    except XStiltsError as err:
        fix = "use an encoder-only or decoder-only model" if getattr(config, "is_encoder_decoder", False) else "set family: encoder or family: decoder on the model"
        problems.append(Problem(subject, str(err), fix))
        return None
    if options.attn_implementation != "auto":
        problem = attention_problem(attention_support(config), options.attn_implementation, options.dtype)
        if problem:
            problems.append(Problem(subject, problem, "remove attn_implementation (auto picks what the model supports) or set it to eager"))
    return family


# -- tokenizer --------------------------------------------------------------------------------------
def _check_tokenizer_files(lookup: FileLookup, family: Family | None, kinds: list[str], subject: str, problems: list[Problem]) -> None:
    if not any(lookup(f) for f in TOKENIZER_FILES):
        problems.append(Problem(subject, "no tokenizer files (tokenizer.json, or a vocabulary such as tokenizer.model / vocab.txt)", "copy the tokenizer files into the model folder (tokenizer.save_pretrained)"))
        return
    sentencepiece_only = lookup("tokenizer.json") is None and any(lookup(f) for f in TOKENIZER_FILES[1:5])
    if sentencepiece_only and OFFSET_KINDS & set(kinds) and importlib.util.find_spec("sentencepiece") is None:
        needs = ", ".join(sorted(OFFSET_KINDS & set(kinds)))
        problems.append(Problem(subject, f"only a SentencePiece model file and no tokenizer.json; {needs} need a fast tokenizer (offsets), converted from it with the sentencepiece package, which is not installed", "pip install sentencepiece, or add the model's tokenizer.json"))
    special = _special_tokens(lookup)
    if special is None:
        return
    if not any(special.get(k) for k in ("pad_token", "eos_token", "unk_token")):
        problems.append(Problem(subject, "the tokenizer names no pad, eos or unk token to pad batches with", "set pad_token (or eos_token) in the model's tokenizer_config.json"))
    if family is Family.DECODER and not special.get("eos_token"):
        problems.append(Problem(subject, "decoder tokenizer has no eos_token; xstilts ends every decoder input with it (last-token pooling)", "set eos_token in the model's tokenizer_config.json"))


def _special_tokens(lookup: FileLookup) -> dict[str, Any] | None:
    """Named special tokens from tokenizer_config.json and special_tokens_map.json; None when
    neither exists (the tokenizer class's defaults apply, nothing to check statically)."""
    found: dict[str, Any] = {}
    seen = False
    for filename in ("tokenizer_config.json", "special_tokens_map.json"):
        path = lookup(filename)
        if path is None:
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        seen = True
        for key in ("pad_token", "eos_token", "unk_token", "bos_token"):
            if data.get(key) and not found.get(key):
                found[key] = data[key]
    if not seen:
        return None
    return found


def _check_tokenizer_deep(source: str, family: Family, options: BackboneOptions, kinds: list[str], subject: str, problems: list[Problem]) -> None:
    """Load the tokenizer as a run will and tokenize a sample pair with offsets."""
    try:
        tokenizer = load_tokenizer(source, family, options)
        InputFormat.for_tokenizer(tokenizer, family)
    except (XStiltsError, ValueError, OSError) as err:
        problems.append(Problem(subject, f"tokenizer does not load as xstilts needs it ({_first_line(err)})", "use the model's original tokenizer files (a fast tokenizer with pad or eos token)"))
        return
    try:
        encoded = tokenizer(SAMPLE[0], SAMPLE[1], add_special_tokens=False, return_offsets_mapping=True)
    except (ValueError, TypeError, NotImplementedError) as err:
        problems.append(Problem(subject, f"tokenizer fails on a sample sentence pair ({_first_line(err)})", "use the model's original fast tokenizer (tokenizer.json)"))
        return
    if not encoded["input_ids"]:
        problems.append(Problem(subject, "tokenizer turns a sample sentence into no tokens", "check the tokenizer files"))
    elif OFFSET_KINDS & set(kinds) and all(s == e for s, e in encoded["offset_mapping"]):
        problems.append(Problem(subject, "tokenizer gives no character offsets; span extraction and tagging need them", "use a fast tokenizer (tokenizer.json)"))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__
