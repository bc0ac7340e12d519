"""Near-duplicate passages by word 5-shingles."""

from rag.duplicates import fold, groups, near_duplicate

STORY = (
    "Les négociateurs russes et ukrainiens se sont accordés jeudi à Genève sur un échange de mille "
    "prisonniers de chaque camp, le plus important depuis le début de la guerre, sous l'égide de la "
    "Croix-Rouge. L'échange doit avoir lieu en trois étapes à la frontière biélorusse d'ici la fin du mois."
)


def test_fold_drops_accents_and_case():
    assert fold("Échange à GENÈVE, l'égide") == ["echange", "a", "geneve", "l", "egide"]


def test_copies_edited_or_under_another_header_are_near_duplicates():
    assert near_duplicate(STORY, STORY.replace("jeudi", "mercredi"))  # one word edited
    assert near_duplicate(STORY, STORY.upper())
    assert near_duplicate(STORY, "Note au ministre. Date : 2025-06-02. " + STORY)  # own header
    assert near_duplicate(STORY, STORY.split(". ")[0])  # cut at a sentence


def test_passages_on_the_same_subject_are_not():
    other = (
        "Un échange de prisonniers entre la Russie et l'Ukraine a été conclu à Genève jeudi ; mille "
        "détenus de chaque camp seront libérés en trois étapes sous l'égide de la Croix-Rouge."
    )
    assert not near_duplicate(STORY, other)
    assert not near_duplicate(
        STORY,
        "Les négociateurs russes et ukrainiens se sont accordés jeudi à Genève. "
        + "Le reste de la note porte sur le gaz, le stockage et les prix de juin en Europe "
        + "selon les négociants du marché de gros, qui anticipent une hausse en hiver.",
    )
    assert not near_duplicate("", STORY)


def test_groups_keep_order_of_first_members():
    assert groups([STORY, "autre chose entièrement", STORY.lower(), "autre chose entièrement !"]) == [[0, 2], [1, 3]]
