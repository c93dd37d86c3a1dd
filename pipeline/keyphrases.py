"""Interests inferred from the notes: noun phrases of the sentences about one person, scored KeyBERT-style.

Candidates are spaCy noun chunks (`pipeline.language`, a verified model) trimmed to the topic they
name; the project's embedder scores them against what the notes say about the person, and MMR keeps
a varied few. A phrase that is not a well-formed noun phrase of 2 to 6 words is never proposed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline import language
from pipeline.config import InterestSettings
from pipeline.embed import Embedder
from pipeline.interviews import Contact, Interest, interest_id, quote_for

METHOD = "noun-chunks/3"  # stored with the profile: a new method re-infers every interview (3: negated clauses)
MMR_DIVERSITY = 0.5
MAX_CANDIDATES = 400
MIN_WORDS, MAX_WORDS = 2, 6

# Leading words that say how much, whose or which, never what about: they are cut from a chunk.
_LEADING_TAGS = frozenset("DT PDT PRP PRP$ WDT WP WP$ WRB CD RB RBR RBS JJR JJS EX IN CC TO UH LS POS".split())
_LEADING_POS = frozenset("DET PRON NUM ADV PART SCONJ CCONJ ADP PUNCT SYM INTJ X SPACE".split())
# Adjectives that judge or measure rather than classify ("a blunt dealer", "cheap financing", "a
# real incident process"); classifying ones stay ("mutual TLS", "public benchmarks", "solar farms").
# The tagger reads some of them as nouns ("blunt"), so they are matched as words, not by tag.
EVALUATIVE = frozenset(
    """good bad better best worse worst great nice fine poor excellent terrible awful amazing awesome wonderful
    perfect solid strong weak blunt harsh honest frank tough hard easy simple difficult cheap expensive costly
    pricey rare common frequent usual typical normal strange weird odd interesting boring important serious
    major minor main key real true actual whole entire full total certain particular specific various several
    many few much more most less least enough different same other own new old recent current previous next
    last early late first final quick fast slow long short big small little huge tiny massive enormous vast
    large likely possible obvious clear unclear sure unsure aware convinced worried excited happy unhappy keen
    eager frustrated annoyed proud curious famous favourite favorite such only mere extra
    additional right wrong proper busy""".split()
)
# Heads too vague to be a topic on their own, even with a modifier ("the next thing", "a kind").
VAGUE_HEADS = frozenset(
    "thing things stuff way ways lot lots kind kinds sort sorts bit bits deal part one ones".split()
)
# Verbs that report a clause and (almost) never take a noun object. The small parser sometimes reads
# the reported clause's verb as a noun: "said their assistant scores well on benchmarks".
_REPORTING = frozenset(
    """say says said saying think thinks thought believe believes believed hope hopes hoped insist insists
    insisted argue argues argued reckon reckons reckoned complain complains complained""".split()
)
# Verbs whose object is an -ing verb ("keeps shipping buffer overflows"), never an -ing modifier.
_CATENATIVE = frozenset(
    """keep keeps kept keeping start starts started stop stops stopped begin begins began continue continues
    continued finish finishes finished avoid avoids avoided enjoy enjoys enjoyed quit quits resume resumes
    resumed risk risks risked mind minds""".split()
)
# Words that open a clause of its own ("whether amitriptyline beats talking therapies", "what share of
# hospital admissions alcohol causes"): such a clause has a finite verb, and where the tagger found
# none it took that verb for a noun.
_SUBORDINATORS = frozenset("whether if what which how why when where who whom that".split())
_CLAUSE_VERBS = frozenset("VBZ VBP VBD MD VB".split())  # finite, or the base form of "how to tell"
_OBJECT_START = frozenset("VBG DT PDT JJ JJR JJS RB PRP$ CD".split())  # "beats talking therapies", "cuts the"
_CLAUSE_END = frozenset(",;:.!?()[]")
_JOINERS = frozenset("/&+")  # inside a name: "CI/CD pipelines", "R&D budget"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _verbs_read_as_nouns(sent: Any) -> set[int]:
    """Indices of chunk heads that are really the verb of a reported clause.

    After "said" (or another reporting verb), a stretch up to the end of the clause with no verb
    at all, but with a noun chunk followed by an adverb or a preposition, is a clause whose verb
    the tagger took for a noun; the last such chunk's head is that verb ("said users on the night
    shift struggle with it": struggle).
    """
    doc = sent.doc
    ends = {chunk.end: chunk for chunk in sent.noun_chunks}
    out: set[int] = set()
    for token in sent:
        if token.lower_ not in _REPORTING or token.pos_ not in ("VERB", "AUX"):
            continue
        stretch: list[Any] = []
        for later in doc[token.i + 1 : sent.end]:
            if later.pos_ in ("VERB", "AUX"):
                stretch = []  # the clause has its verb: nothing was misread
                break
            if later.text in _CLAUSE_END or later.pos_ == "CCONJ":
                break
            stretch.append(later)
        if not stretch:
            continue
        suspects = [
            chunk.root.i
            for end, chunk in ends.items()
            if stretch[0].i <= chunk.start
            and end <= stretch[-1].i
            and doc[end].pos_ in ("ADV", "ADP", "PART")
            and chunk.root.i == end - 1
        ]
        if suspects:
            out.add(max(suspects))
    return out


def _clauses_without_a_verb(sent: Any) -> set[int]:
    """Heads of the chunks to drop: chunks holding the verb of a clause the tagger left without one.

    A clause opened by a conjunction or wh-word (_SUBORDINATORS; "that" only as a conjunction, not in
    "like that seen in") or by a reporting verb ("said") has a verb of its own. Where the tagger found
    none up to the clause's end, it took the verb for a noun, and the chunk holding it is a clause, not
    a topic:
    - a chunk with a plural noun inside it ("PD-L1 staining predicts response": predicts);
    - after a conjunction or wh-word, also the first chunk followed by a word that starts an object
      ("whether amitriptyline beats talking therapies": beats) and the clause's last chunk ("what share
      of hospital admissions alcohol causes", "why people on the same diet gain").
    Where a bare noun (outside every chunk, or a chunk alone), neither the clause's first word nor its
    last, is the misread verb ("that failing autophagy links many diseases", "that reprogramming
    leaves behind coding mutations"), the chunks are its subject and object and stay. Trimming the
    verb would leave a subject, not a topic ("hospital admissions alcohol"), so the chunk goes: no
    interest beats a fragment. The reporting verb's other misreadings are trimmed by
    _verbs_read_as_nouns.
    """
    doc = sent.doc
    chunks = list(sent.noun_chunks)
    phrase_words = {t.i for c in chunks if len(c) > 1 for t in c}
    out: set[int] = set()
    for token in sent:
        reporting = token.lower_ in _REPORTING and token.pos_ in ("VERB", "AUX")
        opening = token.lower_ in _SUBORDINATORS and (token.lower_ != "that" or token.tag_ == "IN")
        if not (reporting or opening):
            continue
        stretch: list[Any] = []
        for later in doc[token.i + 1 : sent.end]:
            if later.text in _CLAUSE_END or later.pos_ == "CCONJ":
                break
            stretch.append(later)
        if not stretch or any(t.tag_ in _CLAUSE_VERBS for t in stretch):
            continue
        first, last = stretch[0].i, stretch[-1].i
        if any(t.pos_ == "NOUN" and t.i not in phrase_words and first < t.i < last for t in stretch):
            continue
        inside = [c for c in chunks if c.end - 1 >= first and c.start <= last]
        drop = [c for c in inside if any(t.tag_ == "NNS" and t.dep_ == "compound" for t in list(c)[:-1])]
        if opening:
            starts_object = [c for c in inside if c.end - 1 < last and doc[c.end].tag_ in _OBJECT_START]
            drop += starts_object[:1] + inside[-1:]
        out.update(c.root.i for c in drop)
    return out


def _negated(sent: Any) -> set[int]:
    """Tokens of a sentence whose main verb is negated: "X is not what she is after", "she is not
    looking for mouse models" say what the person does not care about, and no interest is better than
    its opposite. A negation inside a clause ("a triage step that does not flood the colposcopy
    clinics") leaves the sentence's topics as they are."""
    if any(token.dep_ == "neg" and token.head.i == sent.root.i for token in sent):
        return {t.i for t in sent}
    return set()


def _trim(chunk: Any, misread: set[int]) -> list[Any] | None:
    """The tokens of `chunk` that name its topic, or None when no well-formed noun phrase is left."""
    tokens = list(chunk)
    if chunk.root.i in misread:
        tokens = tokens[:-1]  # "the night shift struggle" (struggle is the verb): "the night shift"
    before = chunk.doc[chunk.start - 1].lower_ if chunk.start > 0 else ""
    if tokens and tokens[0].lower_.endswith("ing") and before in _CATENATIVE:
        tokens = tokens[1:]  # "keeps shipping buffer overflows": a verb's -ing, not a modifier ("manages pricing")
    possessive = [n for n, t in enumerate(tokens) if t.tag_ == "POS"]
    if possessive:
        tokens = tokens[possessive[-1] + 1 :]  # "NASA's Artemis rocket": what is NASA's, not NASA
    while tokens:
        first = tokens[0]
        if len(tokens) > 2 and tokens[1].tag_ == "HYPH":
            # A hyphenated modifier is one unit: kept when it classifies ("real-time", "free-text"),
            # cut when an adverb makes it a judgement ("well-known", "so-called", "much-needed").
            if first.pos_ == "ADV":
                tokens = tokens[3:]
                continue
            break
        judging = first.lower_ in EVALUATIVE and first.dep_ != "compound"  # "key rotation" keeps its key
        if first.tag_ in _LEADING_TAGS or first.pos_ in _LEADING_POS or judging:
            tokens = tokens[1:]
            continue
        break
    if not tokens or tokens[-1].pos_ not in ("NOUN", "PROPN") or tokens[-1].lower_ in VAGUE_HEADS:
        return None
    for n, token in enumerate(tokens):
        hyphenated = any(0 <= m < len(tokens) and tokens[m].tag_ == "HYPH" for m in (n - 1, n + 1))
        if token.pos_ in ("NOUN", "PROPN", "ADJ", "NUM") or token.tag_ == "HYPH" or hyphenated:
            continue
        if token.tag_ in ("VBG", "VBN") and token.dep_ in ("amod", "compound", "nmod"):
            continue  # a gerund or participle that classifies: "tagging policy", "embedded firmware"
        if token.text in _JOINERS and 0 < n < len(tokens) - 1:
            continue
        return None  # a pronoun, verb, preposition or wh-word inside: a fragment, not a noun phrase
    return tokens


def _phrase(tokens: list[Any]) -> str:
    """The phrase as written in the notes, lower case but for names and acronyms ("Spark clusters")."""
    return "".join(
        (t.text if t.pos_ == "PROPN" or (t.text.isupper() and len(t.text) > 1) else t.lower_) + t.whitespace_
        for t in tokens
    ).strip()


def candidate_phrases(sentences: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    """Noun phrases of 2 to 6 words that name a topic -> the first of `sentences` holding each.

    A phrase is a spaCy noun chunk with a noun (or a product's proper name) as head, cut of its
    leading determiners, possessives, pronouns, numbers, "whose", adverbs and judging adjectives
    ("better", "blunt", "cheap"); compounds and classifying adjectives stay ("consumer lag",
    "mutual TLS"). A chunk with a pronoun, verb or preposition left inside is a fragment and goes;
    so does one naming any of `names` (the people in the room and the candidate).
    """
    people = {w for n in names for w in _words(n)}
    nlp = language.pipeline()
    out: dict[str, str] = {}
    for sentence, doc in zip(sentences, nlp.pipe([s[: language.MAX_CHARS] for s in sentences]), strict=True):
        for sent in doc.sents:
            misread = _verbs_read_as_nouns(sent)
            verbless = _clauses_without_a_verb(sent)
            negated = _negated(sent)
            for chunk in sent.noun_chunks:
                if chunk.root.i in verbless or chunk.root.i in negated:
                    continue
                tokens = _trim(chunk, misread)
                if tokens is None:
                    continue
                phrase = _phrase(tokens)
                if MIN_WORDS <= len(phrase.split()) <= MAX_WORDS and not people & set(_words(phrase)):
                    out.setdefault(phrase, sentence)
                    if len(out) >= MAX_CANDIDATES:
                        return out
    return out


def infer_interests(
    contact: Contact, names: Sequence[str], embedder: Embedder, settings: InterestSettings
) -> list[Interest]:
    """Noun phrases of the notes about `contact`, best and most varied first (at most `max_inferred`).

    A phrase is kept when it is close to what the notes say about the person (`min_similarity`),
    not a restatement of an interest already listed (`duplicate_similarity`), and not banned.
    Where no phrase qualifies, nothing is inferred.
    """
    if not contact.said or settings.max_inferred == 0:
        return []
    candidates = candidate_phrases(contact.said, names)
    banned = [b.lower() for b in contact.ban]
    phrases = [p for p in candidates if not any(b in p.lower() or p.lower() in b for b in banned)]
    if not phrases:
        return []
    listed = [i.text for i in contact.interests]
    vectors = embedder.encode([" ".join(contact.said), *listed, *phrases])
    about, known, cands = vectors[0], vectors[1 : 1 + len(listed)], vectors[1 + len(listed) :]
    relevance = cands @ about
    duplicate = (cands @ known.T).max(axis=1) if len(listed) else np.zeros(len(phrases))
    pool = [i for i in np.argsort(-relevance, kind="stable") if relevance[i] >= settings.min_similarity]
    pool = [i for i in pool if duplicate[i] < settings.duplicate_similarity]
    chosen: list[int] = []
    while pool and len(chosen) < settings.max_inferred:
        # MMR as in KeyBERT: relevant to the person, unlike what is already chosen.
        def value(i: int) -> float:
            overlap = max((float(cands[i] @ cands[c]) for c in chosen), default=0.0)
            return float((1 - MMR_DIVERSITY) * relevance[i] - MMR_DIVERSITY * overlap)

        best = max(pool, key=value)
        pool.remove(best)
        words = set(phrases[best].lower().split())
        if any(words <= set(phrases[c].lower().split()) or words >= set(phrases[c].lower().split()) for c in chosen):
            continue  # "cloud bill" once "cloud bill spend" is in: the same phrase, shorter or longer
        chosen.append(int(best))
    out = []
    for i in chosen:
        phrase = phrases[i]
        sentence = candidates[phrase]
        out.append(
            Interest(
                id=interest_id(contact.id, phrase),
                contact_id=contact.id,
                text=phrase,
                snippet=sentence,
                kind="inferred",
                weight=settings.inferred_weight,
                origin="notes",
                quote=quote_for(phrase, sentence),
                why=f"key phrase of the notes about {contact.first_name}: similarity {float(relevance[i]):.2f}"
                f" to what they said, {float(duplicate[i]):.2f} to the listed interests",
            )
        )
    return out
