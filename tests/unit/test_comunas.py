"""The comuna allowlist: Chile's official 346 comunas, exact lookups, explicit aliases only."""

from __future__ import annotations

from collections import Counter

import pytest

from contracts.comunas import all_comunas, comuna_index, lookup_comuna, normalize_text, region_of
from contracts.comunas_data import COMUNAS, REGIONS

# Official counts per región (INE / SUBDERE). Written out here, independently of the data module.
EXPECTED_PER_REGION = {
    "Arica y Parinacota": 4,
    "Tarapacá": 7,
    "Antofagasta": 9,
    "Atacama": 9,
    "Coquimbo": 15,
    "Valparaíso": 38,
    "Metropolitana de Santiago": 52,
    "Libertador General Bernardo O'Higgins": 33,
    "Maule": 30,
    "Ñuble": 21,
    "Biobío": 33,
    "La Araucanía": 32,
    "Los Ríos": 12,
    "Los Lagos": 30,
    "Aysén del General Carlos Ibáñez del Campo": 10,
    "Magallanes y de la Antártica Chilena": 11,
}


def test_there_are_exactly_346_comunas() -> None:
    assert len(COMUNAS) == 346
    assert len(all_comunas()) == 346


def test_no_comuna_is_listed_twice() -> None:
    assert len(set(all_comunas())) == len(all_comunas())


def test_no_two_comunas_collide_once_accents_and_case_are_ignored() -> None:
    assert len({normalize_text(name) for name in all_comunas()}) == 346


def test_each_region_has_its_official_number_of_comunas() -> None:
    assert Counter(record.region for record in COMUNAS) == EXPECTED_PER_REGION


def test_regions_are_the_sixteen_official_ones_in_order_north_to_south() -> None:
    assert list(REGIONS) == list(EXPECTED_PER_REGION)
    assert [record.region for record in COMUNAS] == sorted((record.region for record in COMUNAS), key=REGIONS.index)


@pytest.mark.parametrize(
    ("comuna", "region"),
    [
        ("Arica", "Arica y Parinacota"),
        ("Ñuñoa", "Metropolitana de Santiago"),
        ("Alhué", "Metropolitana de Santiago"),
        ("Curacaví", "Metropolitana de Santiago"),
        ("Chillán", "Ñuble"),
        ("Hualpén", "Biobío"),
        ("Los Ángeles", "Biobío"),
        ("Cholchol", "La Araucanía"),
        ("Mariquina", "Los Ríos"),
        ("Aysén", "Aysén del General Carlos Ibáñez del Campo"),
        ("O'Higgins", "Aysén del General Carlos Ibáñez del Campo"),
        ("Torres del Paine", "Magallanes y de la Antártica Chilena"),
    ],
)
def test_a_comuna_belongs_to_its_region(comuna: str, region: str) -> None:
    assert region_of(comuna) == region


def test_names_keep_their_accents_and_enes() -> None:
    names = set(all_comunas())
    for accented in (
        "Ñuñoa",
        "Peñalolén",
        "Concepción",
        "Curacaví",
        "Los Ángeles",
        "Aysén",
        "Hualpén",
        "Alhué",
        "Maipú",
        "Viña del Mar",
        "Ollagüe",
        "Río Ibáñez",
        "Ñiquén",
        "Doñihue",
    ):
        assert accented in names
    assert "Nunoa" not in names


def test_normalize_text_lowercases_strips_accents_and_collapses_punctuation() -> None:
    assert normalize_text("  Peñalolén, ¡URGENTE!  ") == "penalolen urgente"
    assert normalize_text("O'Higgins") == "o higgins"
    assert normalize_text("Ollagüe") == "ollague"
    assert normalize_text("Av. Grecia 2010") == "av grecia 2010"
    assert normalize_text("") == ""


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("Ñuñoa", "Ñuñoa"),
        ("nunoa", "Ñuñoa"),
        ("ÑUÑOA", "Ñuñoa"),
        ("  ñuñoa. ", "Ñuñoa"),
        ("penalolen", "Peñalolén"),
        ("concepcion", "Concepción"),
        ("LOS ANGELES", "Los Ángeles"),
        ("vina del mar", "Viña del Mar"),
        ("estacion central", "Estación Central"),
        ("san miguel", "San Miguel"),
        ("ohiggins", "O'Higgins"),
        ("o'higgins", "O'Higgins"),
        ("san pedro de la paz", "San Pedro de la Paz"),
    ],
)
def test_lookup_ignores_accents_case_and_punctuation(typed: str, canonical: str) -> None:
    assert lookup_comuna(typed) == canonical


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("santiago centro", "Santiago"),
        ("Stgo", "Santiago"),
        ("stgo centro", "Santiago"),
        ("conce", "Concepción"),
        ("viña", "Viña del Mar"),
        ("Valpo", "Valparaíso"),
        ("PAC", "Pedro Aguirre Cerda"),
        ("P.A.C.", "Pedro Aguirre Cerda"),
        ("La Calera", "Calera"),
        ("Llay-Llay", "Llaillay"),
        ("Til Til", "Tiltil"),
        ("Puerto Natales", "Natales"),
        ("Rapa Nui", "Isla de Pascua"),
        ("Trehuaco", "Treguaco"),
        ("Paihuano", "Paiguano"),
    ],
)
def test_everyday_aliases_resolve_to_the_official_name(alias: str, canonical: str) -> None:
    assert lookup_comuna(alias) == canonical


@pytest.mark.parametrize(
    "not_a_comuna",
    [
        "",
        "   ",
        "chile",
        "región metropolitana",
        "la plaza",
        "mi casa",
        "ñuñoaa",
        "nunoa 123",
        "santiag",
        "gran santiago",
        "maipo",
        "el golf",
        "la dehesa",
        "quinta",
    ],
)
def test_anything_else_is_not_a_comuna(not_a_comuna: str) -> None:
    assert lookup_comuna(not_a_comuna) is None


def test_every_alias_points_to_an_official_comuna() -> None:
    official = set(all_comunas())
    assert set(comuna_index().values()) == official


def test_region_of_an_unknown_name_is_none() -> None:
    assert region_of("Nunoa") is None
