"""Chile's 346 comunas, as (comuna, provincia, región), region by region from north to south.

Spellings follow the official territorial codes (INE / SUBDERE "Códigos Únicos Territoriales"), including
their less familiar choices (``Calera``, ``Llaillay``, ``Mostazal``, ``Paiguano``, ``Treguaco``, ``Natales``);
the everyday variants ("La Calera", "Llay-Llay", "Paihuano", "Trehuaco", "Puerto Natales") are aliases in
``contracts.comunas``, never second entries here, so that every comuna has exactly one canonical name.

This is production data and the only source of the comuna allowlist: edit it only against the official list,
and keep ``tests/unit/test_comunas.py`` (total and per-region counts) green.
"""

from __future__ import annotations

from typing import NamedTuple


class ComunaRecord(NamedTuple):
    comuna: str
    provincia: str
    region: str


ARICA_Y_PARINACOTA = "Arica y Parinacota"
TARAPACA = "Tarapacá"
ANTOFAGASTA = "Antofagasta"
ATACAMA = "Atacama"
COQUIMBO = "Coquimbo"
VALPARAISO = "Valparaíso"
METROPOLITANA = "Metropolitana de Santiago"
OHIGGINS = "Libertador General Bernardo O'Higgins"
MAULE = "Maule"
NUBLE = "Ñuble"
BIOBIO = "Biobío"
ARAUCANIA = "La Araucanía"
LOS_RIOS = "Los Ríos"
LOS_LAGOS = "Los Lagos"
AYSEN = "Aysén del General Carlos Ibáñez del Campo"
MAGALLANES = "Magallanes y de la Antártica Chilena"

#: Regions in geographic order (north to south), which is also the order of ``COMUNAS``.
REGIONS: tuple[str, ...] = (
    ARICA_Y_PARINACOTA,
    TARAPACA,
    ANTOFAGASTA,
    ATACAMA,
    COQUIMBO,
    VALPARAISO,
    METROPOLITANA,
    OHIGGINS,
    MAULE,
    NUBLE,
    BIOBIO,
    ARAUCANIA,
    LOS_RIOS,
    LOS_LAGOS,
    AYSEN,
    MAGALLANES,
)

# region -> provincia -> comunas; flattened into COMUNAS below. Written as a literal table so that a reviewer
# can check it province by province against the official list.
_BY_REGION: dict[str, dict[str, tuple[str, ...]]] = {
    ARICA_Y_PARINACOTA: {
        "Arica": ("Arica", "Camarones"),
        "Parinacota": ("Putre", "General Lagos"),
    },
    TARAPACA: {
        "Iquique": ("Iquique", "Alto Hospicio"),
        "Tamarugal": ("Pozo Almonte", "Camiña", "Colchane", "Huara", "Pica"),
    },
    ANTOFAGASTA: {
        "Antofagasta": ("Antofagasta", "Mejillones", "Sierra Gorda", "Taltal"),
        "El Loa": ("Calama", "Ollagüe", "San Pedro de Atacama"),
        "Tocopilla": ("Tocopilla", "María Elena"),
    },
    ATACAMA: {
        "Copiapó": ("Copiapó", "Caldera", "Tierra Amarilla"),
        "Chañaral": ("Chañaral", "Diego de Almagro"),
        "Huasco": ("Vallenar", "Alto del Carmen", "Freirina", "Huasco"),
    },
    COQUIMBO: {
        "Elqui": ("La Serena", "Coquimbo", "Andacollo", "La Higuera", "Paiguano", "Vicuña"),
        "Choapa": ("Illapel", "Canela", "Los Vilos", "Salamanca"),
        "Limarí": ("Ovalle", "Combarbalá", "Monte Patria", "Punitaqui", "Río Hurtado"),
    },
    VALPARAISO: {
        "Valparaíso": (
            "Valparaíso",
            "Casablanca",
            "Concón",
            "Juan Fernández",
            "Puchuncaví",
            "Quintero",
            "Viña del Mar",
        ),
        "Isla de Pascua": ("Isla de Pascua",),
        "Los Andes": ("Los Andes", "Calle Larga", "Rinconada", "San Esteban"),
        "Petorca": ("La Ligua", "Cabildo", "Papudo", "Petorca", "Zapallar"),
        "Quillota": ("Quillota", "Calera", "Hijuelas", "La Cruz", "Nogales"),
        "San Antonio": ("San Antonio", "Algarrobo", "Cartagena", "El Quisco", "El Tabo", "Santo Domingo"),
        "San Felipe de Aconcagua": ("San Felipe", "Catemu", "Llaillay", "Panquehue", "Putaendo", "Santa María"),
        "Marga Marga": ("Quilpué", "Limache", "Olmué", "Villa Alemana"),
    },
    METROPOLITANA: {
        "Santiago": (
            "Santiago",
            "Cerrillos",
            "Cerro Navia",
            "Conchalí",
            "El Bosque",
            "Estación Central",
            "Huechuraba",
            "Independencia",
            "La Cisterna",
            "La Florida",
            "La Granja",
            "La Pintana",
            "La Reina",
            "Las Condes",
            "Lo Barnechea",
            "Lo Espejo",
            "Lo Prado",
            "Macul",
            "Maipú",
            "Ñuñoa",
            "Pedro Aguirre Cerda",
            "Peñalolén",
            "Providencia",
            "Pudahuel",
            "Quilicura",
            "Quinta Normal",
            "Recoleta",
            "Renca",
            "San Joaquín",
            "San Miguel",
            "San Ramón",
            "Vitacura",
        ),
        "Cordillera": ("Puente Alto", "Pirque", "San José de Maipo"),
        "Chacabuco": ("Colina", "Lampa", "Tiltil"),
        "Maipo": ("San Bernardo", "Buin", "Calera de Tango", "Paine"),
        "Melipilla": ("Melipilla", "Alhué", "Curacaví", "María Pinto", "San Pedro"),
        "Talagante": ("Talagante", "El Monte", "Isla de Maipo", "Padre Hurtado", "Peñaflor"),
    },
    OHIGGINS: {
        "Cachapoal": (
            "Rancagua",
            "Codegua",
            "Coinco",
            "Coltauco",
            "Doñihue",
            "Graneros",
            "Las Cabras",
            "Machalí",
            "Malloa",
            "Mostazal",
            "Olivar",
            "Peumo",
            "Pichidegua",
            "Quinta de Tilcoco",
            "Rengo",
            "Requínoa",
            "San Vicente",
        ),
        "Cardenal Caro": ("Pichilemu", "La Estrella", "Litueche", "Marchihue", "Navidad", "Paredones"),
        "Colchagua": (
            "San Fernando",
            "Chépica",
            "Chimbarongo",
            "Lolol",
            "Nancagua",
            "Palmilla",
            "Peralillo",
            "Placilla",
            "Pumanque",
            "Santa Cruz",
        ),
    },
    MAULE: {
        "Talca": (
            "Talca",
            "Constitución",
            "Curepto",
            "Empedrado",
            "Maule",
            "Pelarco",
            "Pencahue",
            "Río Claro",
            "San Clemente",
            "San Rafael",
        ),
        "Cauquenes": ("Cauquenes", "Chanco", "Pelluhue"),
        "Curicó": (
            "Curicó",
            "Hualañé",
            "Licantén",
            "Molina",
            "Rauco",
            "Romeral",
            "Sagrada Familia",
            "Teno",
            "Vichuquén",
        ),
        "Linares": (
            "Linares",
            "Colbún",
            "Longaví",
            "Parral",
            "Retiro",
            "San Javier",
            "Villa Alegre",
            "Yerbas Buenas",
        ),
    },
    NUBLE: {
        "Diguillín": (
            "Chillán",
            "Bulnes",
            "Chillán Viejo",
            "El Carmen",
            "Pemuco",
            "Pinto",
            "Quillón",
            "San Ignacio",
            "Yungay",
        ),
        "Itata": ("Quirihue", "Cobquecura", "Coelemu", "Ninhue", "Portezuelo", "Ránquil", "Treguaco"),
        "Punilla": ("San Carlos", "Coihueco", "Ñiquén", "San Fabián", "San Nicolás"),
    },
    BIOBIO: {
        "Concepción": (
            "Concepción",
            "Coronel",
            "Chiguayante",
            "Florida",
            "Hualqui",
            "Lota",
            "Penco",
            "San Pedro de la Paz",
            "Santa Juana",
            "Talcahuano",
            "Tomé",
            "Hualpén",
        ),
        "Arauco": ("Lebu", "Arauco", "Cañete", "Contulmo", "Curanilahue", "Los Álamos", "Tirúa"),
        "Biobío": (
            "Los Ángeles",
            "Antuco",
            "Cabrero",
            "Laja",
            "Mulchén",
            "Nacimiento",
            "Negrete",
            "Quilaco",
            "Quilleco",
            "San Rosendo",
            "Santa Bárbara",
            "Tucapel",
            "Yumbel",
            "Alto Biobío",
        ),
    },
    ARAUCANIA: {
        "Cautín": (
            "Temuco",
            "Carahue",
            "Cunco",
            "Curarrehue",
            "Freire",
            "Galvarino",
            "Gorbea",
            "Lautaro",
            "Loncoche",
            "Melipeuco",
            "Nueva Imperial",
            "Padre Las Casas",
            "Perquenco",
            "Pitrufquén",
            "Pucón",
            "Saavedra",
            "Teodoro Schmidt",
            "Toltén",
            "Vilcún",
            "Villarrica",
            "Cholchol",
        ),
        "Malleco": (
            "Angol",
            "Collipulli",
            "Curacautín",
            "Ercilla",
            "Lonquimay",
            "Los Sauces",
            "Lumaco",
            "Purén",
            "Renaico",
            "Traiguén",
            "Victoria",
        ),
    },
    LOS_RIOS: {
        "Valdivia": (
            "Valdivia",
            "Corral",
            "Lanco",
            "Los Lagos",
            "Máfil",
            "Mariquina",
            "Paillaco",
            "Panguipulli",
        ),
        "Ranco": ("La Unión", "Futrono", "Lago Ranco", "Río Bueno"),
    },
    LOS_LAGOS: {
        "Llanquihue": (
            "Puerto Montt",
            "Calbuco",
            "Cochamó",
            "Fresia",
            "Frutillar",
            "Los Muermos",
            "Llanquihue",
            "Maullín",
            "Puerto Varas",
        ),
        "Chiloé": (
            "Castro",
            "Ancud",
            "Chonchi",
            "Curaco de Vélez",
            "Dalcahue",
            "Puqueldón",
            "Queilén",
            "Quellón",
            "Quemchi",
            "Quinchao",
        ),
        "Osorno": (
            "Osorno",
            "Puerto Octay",
            "Purranque",
            "Puyehue",
            "Río Negro",
            "San Juan de la Costa",
            "San Pablo",
        ),
        "Palena": ("Chaitén", "Futaleufú", "Hualaihué", "Palena"),
    },
    AYSEN: {
        "Coyhaique": ("Coyhaique", "Lago Verde"),
        "Aysén": ("Aysén", "Cisnes", "Guaitecas"),
        "Capitán Prat": ("Cochrane", "O'Higgins", "Tortel"),
        "General Carrera": ("Chile Chico", "Río Ibáñez"),
    },
    MAGALLANES: {
        "Magallanes": ("Punta Arenas", "Laguna Blanca", "Río Verde", "San Gregorio"),
        "Antártica Chilena": ("Cabo de Hornos", "Antártica"),
        "Tierra del Fuego": ("Porvenir", "Primavera", "Timaukel"),
        "Última Esperanza": ("Natales", "Torres del Paine"),
    },
}

COMUNAS: tuple[ComunaRecord, ...] = tuple(
    ComunaRecord(comuna, provincia, region)
    for region in REGIONS
    for provincia, comunas in _BY_REGION[region].items()
    for comuna in comunas
)
