"""Story text for the generated ds003020 miniature: a vocabulary of semantically grouped words,
their semantic vectors, and seeded story generation.

Each story is a sequence of paragraphs; each paragraph has a topic (a mixture over the word
groups) so that the semantic content changes slowly, on the time scale of several TRs, as in
natural narratives. Content words come from the groups; function words have no semantic vector.
"""

from __future__ import annotations

import numpy as np

#: Semantic groups of content words (nouns and adjectives), each a category of the generative model.
WORD_GROUPS: dict[str, tuple[str, ...]] = {
    "animals": (
        "dog", "cat", "horse", "tiger", "rabbit", "bird", "fish", "mouse", "cow", "sheep", "goat",
        "lion", "bear", "wolf", "snake", "duck", "monkey", "fox", "deer", "frog",
    ),
    "food": (
        "bread", "apple", "cheese", "soup", "butter", "rice", "cake", "milk", "coffee", "honey",
        "orange", "potato", "pie", "sugar", "salad", "egg", "banana", "cookie", "tea", "meat",
    ),
    "places": (
        "kitchen", "garden", "school", "church", "village", "forest", "river", "market", "beach",
        "hospital", "library", "station", "city", "farm", "office", "harbor", "mountain", "street",
        "bridge", "valley",
    ),
    "emotions": (
        "happy", "sad", "angry", "afraid", "proud", "lonely", "calm", "nervous", "excited", "jealous",
        "grateful", "ashamed", "hopeful", "bored", "cheerful", "anxious", "gentle", "furious",
        "tender", "worried",
    ),
    "people": (
        "mother", "father", "sister", "brother", "teacher", "doctor", "friend", "neighbor", "farmer",
        "soldier", "baby", "grandmother", "uncle", "captain", "child", "nurse", "stranger",
        "king", "queen", "student",
    ),
    "body": (
        "hand", "head", "heart", "face", "eye", "shoulder", "finger", "knee", "mouth", "foot",
        "arm", "back", "hair", "nose", "ear", "leg", "stomach", "neck", "tooth", "skin",
    ),
    "weather": (
        "rain", "snow", "wind", "storm", "sun", "cloud", "thunder", "fog", "ice", "summer",
        "winter", "sky", "lightning", "heat", "frost", "breeze", "morning", "night", "evening",
        "spring",
    ),
    "objects": (
        "table", "chair", "door", "window", "book", "letter", "phone", "key", "box", "bottle",
        "car", "boat", "clock", "lamp", "bag", "hammer", "bicycle", "piano", "camera", "blanket",
    ),
}

_TEMPLATES = (
    "The {people} saw a {animals} near the {places}.",
    "My {people} felt {emotions} in the {places}.",
    "We ate {food} and {food} after the {weather}.",
    "A {emotions} {animals} walked to the {places} with the {people}.",
    "She put the {objects} on the {objects} and felt {emotions}.",
    "In the {weather}, the {people} carried {food} to the {places}.",
    "His {body} hurt, so the {people} brought {food}.",
    "The {animals} ran past the {objects} in the {weather}.",
    "Everyone in the {places} was {emotions} about the {animals}.",
    "I remember the {weather} and the smell of {food}.",
    "He held the {objects} in his {body} and looked at the {people}.",
    "Then the {people} and the {animals} left the {places}.",
    "It was {emotions}, and the {weather} came over the {places}.",
    "Her {body} was cold, but the {food} was warm.",
    "They found a {objects} under the {objects} by the {places}.",
    "The {people} told us about a {emotions} {people}.",
)

_STORY_OPENERS = ("So this is a story about", "I want to tell you about", "Let me tell you about")


def vocabulary() -> list[tuple[str, str]]:
    """``[(word, group), ...]`` of every content word, in a fixed order."""
    return [(word, group) for group, words in WORD_GROUPS.items() for word in words]


def semantic_vectors(seed: int, dim: int, within_group_sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Group prototypes (G, dim) and word vectors (W, dim), both float64, seeded.

    A word's vector is its group's prototype plus isotropic deviation of ``within_group_sd``, so
    words of a group are close and groups are far apart: a miniature of a semantic space.
    """
    rng = np.random.default_rng([seed, 101])
    prototypes = rng.standard_normal((len(WORD_GROUPS), dim))
    group_index = {g: i for i, g in enumerate(WORD_GROUPS)}
    vocab = vocabulary()
    vectors = np.stack([prototypes[group_index[g]] for _, g in vocab])
    vectors = vectors + within_group_sd * rng.standard_normal(vectors.shape)
    return prototypes, vectors


def story_text(rng: np.random.Generator, n_words: int, topic_concentration: float, sentences_per_topic: int) -> str:
    """About ``n_words`` words of story from the templates.

    Paragraphs of ``sentences_per_topic`` sentences each draw a topic ~ Dirichlet(``topic_concentration``)
    over the noun groups; each noun slot keeps its template category with probability 0.4 and
    otherwise takes a word of a group drawn from the topic (emotion slots stay emotions).
    """
    groups = list(WORD_GROUPS)
    nouns = [g for g in groups if g != "emotions"]
    opener = _STORY_OPENERS[int(rng.integers(len(_STORY_OPENERS)))]
    sentences = [f"{opener} the {rng.choice(WORD_GROUPS[str(rng.choice(nouns))])}."]
    count = len(sentences[0].split())
    while count < n_words:
        topic = rng.dirichlet(np.full(len(nouns), topic_concentration))
        for _ in range(sentences_per_topic):
            sentence = _TEMPLATES[int(rng.integers(len(_TEMPLATES)))]
            while "{" in sentence:
                start = sentence.index("{")
                end = sentence.index("}", start)
                slot = sentence[start + 1 : end]
                if slot != "emotions" and rng.random() < 0.6:
                    slot = nouns[int(rng.choice(len(nouns), p=topic))]
                sentence = sentence[:start] + str(rng.choice(WORD_GROUPS[slot])) + sentence[end + 1 :]
            sentences.append(sentence)
            count += len(sentence.split())
            if count >= n_words:
                break
    return " ".join(sentences)
