import random

from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.spec import SyntheticSpec
from xstilts.synthetic.tasks import GENERATORS, NLI_LABELS, nli_hypothesis
from xstilts.synthetic.world import (
    ADJECTIVES,
    LANGUAGES,
    LOANWORD_SHARE,
    NAMES,
    NOUNS,
    PLACES,
    VERBS,
    World,
    _all_lemmas,
    cognate,
)


def test_languages_realise_the_same_meaning_at_graded_distances():
    world, rng = World(0), random.Random(0)
    shared = {lang: 0 for lang in LANGUAGES}
    total = 0
    for _ in range(200):
        p = world.random_proposition(rng)
        words = {lang: world.realise(p, lang).tokens for lang in LANGUAGES}
        lemmas = {lang: sorted(w.lemma for w in world.realise(p, lang).words if w.lemma not in ("", "does")) for lang in LANGUAGES}
        assert all(lemmas[lang] == lemmas["en"] for lang in LANGUAGES)  # the same meaning, word for word
        en = set(words["en"])
        for lang in LANGUAGES:
            shared[lang] += len(en & set(words[lang]))
        total += len(en)
    assert shared["en"] == total
    assert shared["clo"] > 0.3 * total  # cognates: many identical words
    assert shared["scr"] < shared["clo"] and shared["ord"] < shared["clo"]


def test_other_script_language_uses_greek_letters_except_names_and_loanwords():
    world, rng = World(0), random.Random(1)
    loans = {lemma for lemma, form in world.lexicons["scr"].words.items() if form == lemma}
    for _ in range(50):
        for w in world.realise(world.random_proposition(rng), "scr").tokens:
            assert w in NAMES or w in ".,?" or w in loans or all("\u0370" <= c <= "\u03ff" for c in w), w


def test_scr_and_ord_borrow_the_same_share_of_content_words_from_english():
    world = World(0)
    content = set(NOUNS + ADJECTIVES + VERBS + PLACES)
    loans = {lang: {lemma for lemma, form in world.lexicons[lang].words.items() if form == lemma} for lang in ("scr", "ord")}
    assert loans["scr"] == loans["ord"] and loans["scr"] <= content  # function words are never borrowed
    assert len(loans["scr"]) == round(LOANWORD_SHARE * len(content))
    assert World(1).lexicons["ord"].words != world.lexicons["ord"].words


def test_every_language_shares_words_with_english_graded_by_distance():
    """The anchors of cross-lingual alignment: the random world gives no distributional cue to a
    word's meaning, so transfer rests on words (and names) identical to English ones; the closer
    the language, the more of its running content words are shared."""
    world, rng = World(0), random.Random(8)
    shared = {lang: 0 for lang in LANGUAGES[1:]}
    total = 0
    for _ in range(300):
        p = world.random_proposition(rng)
        english = set(world.realise(p, "en").tokens) - set(".,?")
        content = [w for w in world.realise(p, "en").words if w.lemma]
        total += len(content)
        for lang in shared:
            shared[lang] += sum(bool(w.lemma) and w.text in english for w in world.realise(p, lang).words)
    share = {lang: n / total for lang, n in shared.items()}
    # scr and ord borrow the same content words; articles and the other function words never
    assert share["clo"] > 0.5 > 0.2 > share["scr"] == share["ord"] > 0.1, share


def test_the_other_order_language_puts_adjectives_and_adpositions_after_and_the_verb_second():
    world, rng = World(0), random.Random(2)
    seen = {"adjective": 0, "place": 0, "negated": 0}
    for _ in range(100):
        p = world.random_proposition(rng)
        words = world.realise(p, "ord").words
        at = {role: [i for i, w in enumerate(words) if w.role == role] for role in ("subject", "object", "place")}
        verb = next(i for i, w in enumerate(words) if w.pos == "VERB")
        assert max(at["subject"]) < verb < min(at["object"])
        for role in ("subject", "object"):
            pos = [words[i].pos for i in at[role]]
            if "ADJ" in pos:
                seen["adjective"] += 1
                assert pos.index("ADJ") == pos.index("NOUN") + 1
        if at["place"]:
            seen["place"] += 1
            assert words[at["place"][-1]].pos == "ADP"
        if p.negated:
            seen["negated"] += 1
            for lang in LANGUAGES:  # an auxiliary and a particle before the verb, as in English
                realised = world.realise(p, lang).words
                i = next(k for k, w in enumerate(realised) if w.pos == "VERB")
                assert [w.lemma for w in realised[i - 2 : i]] == ["does", "not"], lang
    assert min(seen.values()) > 5, seen


def test_cognates_are_systematic():
    assert cognate("the") == "ze" and cognate("watch") == "vattj" and cognate("dog") == "dog"


def test_nli_labels_follow_monotonicity_under_negation():
    world, rng = World(0), random.Random(3)
    for _ in range(100):
        p = world.random_proposition(rng)
        h = nli_hypothesis(p, "contradiction", rng, world)
        assert h.negated != p.negated and h.obj == p.obj
        h = nli_hypothesis(p, "entailment", rng, world)
        if p.negated:  # adding information to a negated claim is entailed
            assert (h.place or not p.place) and (h.obj.adjective or not p.obj.adjective)
        else:  # dropping information from an affirmative claim is entailed
            assert (not h.place or p.place) and (not h.obj.adjective or p.obj.adjective)


def test_generators_are_deterministic_and_evaluation_splits_parallel():
    for name, gen in GENERATORS.items():
        a = gen(World(0), random.Random(5), 20, LANGUAGES)
        b = gen(World(0), random.Random(5), 20, LANGUAGES)
        assert a == b, name
        ids = [[ex["id"].split("-")[-1] for ex in a[lang]] for lang in LANGUAGES]
        assert all(i == ids[0] for i in ids), name


def test_qa_answers_are_exact_spans_in_every_language():
    data = GENERATORS["syn-qa"](World(0), random.Random(6), 30, LANGUAGES)
    for lang in LANGUAGES:
        for ex in data[lang]:
            start, text = ex["answers"]["answer_start"][0], ex["answers"]["text"][0]
            assert ex["context"][start : start + len(text)] == text


def test_benchmark_cache_is_keyed_by_spec(tmp_path):
    a = SyntheticBenchmark(SyntheticSpec(), root=tmp_path)
    b = SyntheticBenchmark(SyntheticSpec(seed=1), root=tmp_path)
    assert a.root != b.root
    first = a.load("syn-para", "validation", "scr")
    assert (a.data_dir("syn-para") / "DONE").exists()
    assert a.load("syn-para", "validation", "scr") == first
    assert b.load("syn-para", "validation", "scr") != first
    assert a.load("syn-para", "train", "scr") == []  # targets train in English only
    assert len(a.load("syn-para", "train", "en")) == a.spec.sizes["syn-para"]["train"]
    assert len(NLI_LABELS) == 3


def test_every_language_is_anchored_to_english_by_translation_pairs(tmp_path):
    """Beyond the shared words, only documents that hold a sentence and its English translation
    (or code-switched English) tie a language's own words to English ones; each language gets its
    share of them."""
    spec = SyntheticSpec(corpus_sentences_per_language=30, translation_pair_documents=600, code_switched_documents=30)
    docs = SyntheticBenchmark(spec, root=tmp_path).corpus_documents()
    world = World(spec.seed)
    english = set(_all_lemmas())
    for lang in LANGUAGES[1:]:
        own = set(world.lexicons[lang].words.values()) - english
        anchored = [d for d in docs if set(d.split()) & own and set(d.split()) & english]
        assert len(anchored) > 0.25 * spec.translation_pair_documents, lang
