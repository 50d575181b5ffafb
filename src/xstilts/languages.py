"""Metadata of every language used by the tasks, for relating transfer gains to typology.

Fields: English name, ISO 639-3 code, language family and genus (as in the XTREME papers'
language tables and WALS), writing system (ISO 15924 code) and resource class.

`joshi_class` is the class of Joshi et al. 2020, "The State and Fate of Linguistic Diversity and
Inclusion in the NLP World" (0 = left behind ... 5 = winners), from the taxonomy they published
(lang2tax.txt). It is None where we could not establish the class: Haitian Creole appears in
class 1 in the published list but in the paper's class-2 examples.

Other modules (the synthetic benchmark) add their languages with `register_language`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xstilts.errors import unknown_name


@dataclass(frozen=True)
class Language:
    code: str  # the code used by the tasks: ISO 639-1 where one exists
    name: str
    iso639_3: str
    family: str
    genus: str
    script: str  # ISO 15924
    joshi_class: int | None = None
    synthetic: bool = False
    distance: float | None = None  # synthetic languages: designed distance from English, 0 = English


def _lang(code: str, name: str, iso3: str, family: str, genus: str, script: str, joshi: int | None) -> Language:
    return Language(code, name, iso3, family, genus, script, joshi)


_IE = "Indo-European"
_REAL_LANGUAGES = [
    _lang("af", "Afrikaans", "afr", _IE, "Germanic", "Latn", 3),
    _lang("ar", "Arabic", "ara", "Afro-Asiatic", "Semitic", "Arab", 5),
    _lang("az", "Azerbaijani", "aze", "Turkic", "Turkic", "Latn", 1),
    _lang("bg", "Bulgarian", "bul", _IE, "Slavic", "Cyrl", 3),
    _lang("bn", "Bengali", "ben", _IE, "Indo-Aryan", "Beng", 3),
    _lang("de", "German", "deu", _IE, "Germanic", "Latn", 5),
    _lang("el", "Greek", "ell", _IE, "Greek", "Grek", 3),
    _lang("en", "English", "eng", _IE, "Germanic", "Latn", 5),
    _lang("es", "Spanish", "spa", _IE, "Romance", "Latn", 5),
    _lang("et", "Estonian", "est", "Uralic", "Finnic", "Latn", 3),
    _lang("eu", "Basque", "eus", "Basque", "Basque", "Latn", 4),
    _lang("fa", "Persian", "fas", _IE, "Iranian", "Arab", 4),
    _lang("fi", "Finnish", "fin", "Uralic", "Finnic", "Latn", 4),
    _lang("fr", "French", "fra", _IE, "Romance", "Latn", 5),
    _lang("gu", "Gujarati", "guj", _IE, "Indo-Aryan", "Gujr", 1),
    _lang("he", "Hebrew", "heb", "Afro-Asiatic", "Semitic", "Hebr", 3),
    _lang("hi", "Hindi", "hin", _IE, "Indo-Aryan", "Deva", 4),
    _lang("ht", "Haitian Creole", "hat", "Creole", "French-based creole", "Latn", None),
    _lang("hu", "Hungarian", "hun", "Uralic", "Ugric", "Latn", 4),
    _lang("id", "Indonesian", "ind", "Austronesian", "Malayo-Sumbawan", "Latn", 3),
    _lang("it", "Italian", "ita", _IE, "Romance", "Latn", 4),
    _lang("ja", "Japanese", "jpn", "Japonic", "Japanese", "Jpan", 5),
    _lang("jv", "Javanese", "jav", "Austronesian", "Javanese", "Latn", 1),
    _lang("ka", "Georgian", "kat", "Kartvelian", "Kartvelian", "Geor", 3),
    _lang("kk", "Kazakh", "kaz", "Turkic", "Turkic", "Cyrl", 3),
    _lang("ko", "Korean", "kor", "Koreanic", "Korean", "Hang", 4),
    _lang("lt", "Lithuanian", "lit", _IE, "Baltic", "Latn", 3),
    _lang("ml", "Malayalam", "mal", "Dravidian", "Southern Dravidian", "Mlym", 1),
    _lang("mr", "Marathi", "mar", _IE, "Indo-Aryan", "Deva", 2),
    _lang("ms", "Malay", "msa", "Austronesian", "Malayo-Sumbawan", "Latn", 3),
    _lang("my", "Burmese", "mya", "Sino-Tibetan", "Burmese-Lolo", "Mymr", 1),
    _lang("nl", "Dutch", "nld", _IE, "Germanic", "Latn", 4),
    _lang("pa", "Punjabi", "pan", _IE, "Indo-Aryan", "Guru", 2),
    _lang("pl", "Polish", "pol", _IE, "Slavic", "Latn", 4),
    _lang("pt", "Portuguese", "por", _IE, "Romance", "Latn", 4),
    _lang("qu", "Quechua", "que", "Quechuan", "Quechuan", "Latn", 1),
    _lang("ro", "Romanian", "ron", _IE, "Romance", "Latn", 3),
    _lang("ru", "Russian", "rus", _IE, "Slavic", "Cyrl", 4),
    _lang("sw", "Swahili", "swa", "Niger-Congo", "Bantoid", "Latn", 2),
    _lang("ta", "Tamil", "tam", "Dravidian", "Southern Dravidian", "Taml", 3),
    _lang("te", "Telugu", "tel", "Dravidian", "South-Central Dravidian", "Telu", 1),
    _lang("th", "Thai", "tha", "Kra-Dai", "Kam-Tai", "Thai", 3),
    _lang("tl", "Tagalog", "tgl", "Austronesian", "Greater Central Philippine", "Latn", 3),
    _lang("tr", "Turkish", "tur", "Turkic", "Turkic", "Latn", 4),
    _lang("uk", "Ukrainian", "ukr", _IE, "Slavic", "Cyrl", 3),
    _lang("ur", "Urdu", "urd", _IE, "Indo-Aryan", "Arab", 3),
    _lang("vi", "Vietnamese", "vie", "Austro-Asiatic", "Viet-Muong", "Latn", 4),
    _lang("wo", "Wolof", "wol", "Niger-Congo", "Atlantic", "Latn", 2),
    _lang("yo", "Yoruba", "yor", "Niger-Congo", "Defoid", "Latn", 2),
    _lang("zh", "Chinese", "zho", "Sino-Tibetan", "Chinese", "Hani", 5),
]

LANGUAGES: dict[str, Language] = {lang.code: lang for lang in _REAL_LANGUAGES}


def register_language(language: Language) -> Language:
    if language.code in LANGUAGES and LANGUAGES[language.code] != language:
        raise ValueError(f"language {language.code!r} is registered twice with different metadata")
    LANGUAGES[language.code] = language
    return language


def get_language(code: str, where: str = "") -> Language:
    try:
        return LANGUAGES[code]
    except KeyError:
        raise unknown_name("language", code, LANGUAGES, where) from None


def relation_to_english(code: str) -> dict[str, bool]:
    """Coarse typological closeness to English, for gain-versus-distance analyses."""
    language, english = get_language(code), LANGUAGES["en"]
    return {
        "same_family": language.family == english.family,
        "same_genus": language.genus == english.genus,
        "same_script": language.script == english.script,
    }
