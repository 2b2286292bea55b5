"""Names and nationalities for BRP rows (ingest drops names; they only have to look real)."""

from __future__ import annotations

# (voorvoegsel, geslachtsnaam)
DUTCH_SURNAMES = (
    ("de", "Jong"), ("", "Jansen"), ("de", "Vries"), ("van den", "Berg"), ("van", "Dijk"),
    ("", "Bakker"), ("", "Janssen"), ("", "Visser"), ("", "Smit"), ("", "Meijer"),
    ("de", "Boer"), ("", "Mulder"), ("de", "Groot"), ("", "Bos"), ("", "Vos"),
    ("", "Peters"), ("", "Hendriks"), ("van", "Leeuwen"), ("", "Dekker"), ("", "Brouwer"),
    ("de", "Wit"), ("", "Dijkstra"), ("", "Smits"), ("de", "Graaf"), ("van der", "Meer"),
    ("van der", "Linden"), ("", "Kok"), ("", "Jacobs"), ("de", "Haan"), ("", "Vermeulen"),
    ("van den", "Heuvel"), ("van der", "Veen"), ("van den", "Broek"), ("de", "Bruijn"),
    ("de", "Bruin"), ("van der", "Heijden"), ("", "Schouten"), ("van", "Beek"),
    ("", "Willems"), ("van", "Vliet"), ("van de", "Ven"), ("", "Hoekstra"), ("", "Maas"),
    ("", "Verhoeven"), ("", "Koster"), ("van", "Dam"), ("van der", "Wal"), ("", "Prins"),
    ("", "Blom"), ("", "Huisman"), ("", "Peeters"), ("de", "Jonge"), ("", "Kuipers"),
    ("van", "Veen"), ("", "Post"), ("", "Kuiper"), ("", "Veenstra"), ("", "Kramer"),
    ("van den", "Brink"), ("", "Scholten"), ("van", "Wijk"), ("", "Postma"), ("", "Martens"),
    ("", "Vink"), ("de", "Ruiter"), ("", "Timmermans"), ("", "Groen"), ("", "Gerritsen"),
    ("", "Jonker"), ("van", "Loon"), ("", "Boer"), ("van der", "Velde"), ("", "Willemsen"),
    ("", "Smeets"), ("de", "Lange"), ("de", "Vos"), ("", "Bosch"), ("van", "Dongen"),
    ("", "Schipper"), ("de", "Koning"), ("van der", "Laan"), ("", "Koning"), ("", "Driessen"),
    ("van", "Doorn"), ("", "Hermans"), ("", "Evers"), ("van den", "Bosch"), ("van der", "Meulen"),
    ("", "Hofman"), ("", "Bosman"), ("", "Wolters"), ("", "Sanders"), ("van der", "Horst"),
    ("", "Mol"), ("", "Kuijpers"), ("", "Molenaar"), ("van de", "Pol"), ("'t", "Hart"),
)  # fmt: skip
OTHER_SURNAMES = (
    ("", "Yilmaz"), ("", "Kaya"), ("", "Demir"), ("", "Şahin"), ("", "Çelik"),
    ("", "El Amrani"), ("", "Bouzid"), ("", "Ait Taleb"), ("", "Benali"), ("", "Haddou"),
    ("", "Nowak"), ("", "Kowalski"), ("", "Wiśniewski"), ("", "Müller"), ("", "Schmidt"),
    ("", "Rossi"), ("", "García"), ("", "Pereira"), ("", "Nguyen"), ("", "Al-Hassan"),
    ("", "Haile"), ("", "Tesfay"), ("", "Popescu"), ("", "Ivanova"), ("", "Singh"),
)  # fmt: skip
MALE_NAMES = (
    "Jan", "Pieter", "Johannes", "Cornelis", "Hendrik", "Willem", "Gerrit", "Dirk", "Jacob",
    "Adrianus", "Petrus", "Theodorus", "Martinus", "Daan", "Sem", "Lucas", "Levi", "Finn",
    "Luuk", "Milan", "Bram", "Thijs", "Jesse", "Ruben", "Lars", "Tim", "Thomas", "Sander",
    "Kevin", "Dennis", "Mark", "Erik", "Bas", "Joost", "Wouter", "Noah", "Liam", "Mees",
    "Teun", "Jurre", "Frank", "Henk", "Kees", "Gijs", "Stijn", "Koen", "Maarten", "Rik",
)  # fmt: skip
FEMALE_NAMES = (
    "Maria", "Johanna", "Anna", "Cornelia", "Wilhelmina", "Elisabeth", "Hendrika", "Catharina",
    "Geertruida", "Emma", "Julia", "Sophie", "Tess", "Zoë", "Mila", "Sara", "Fenna", "Lotte",
    "Eva", "Lisa", "Anouk", "Sanne", "Femke", "Iris", "Laura", "Linda", "Monique", "Sandra",
    "Ingrid", "Marieke", "Esther", "Nienke", "Noor", "Saar", "Yara", "Liv", "Evi", "Nina",
    "Fleur", "Roos", "Ilse", "Anke", "Els", "Joke", "Margriet", "Lieke", "Merel", "Jasmijn",
)  # fmt: skip
OTHER_MALE_NAMES = (
    "Mohamed", "Ahmed", "Mustafa", "Mehmet", "Yusuf", "Ali", "Omar", "Piotr", "Tomasz",
    "Andrei", "Stefan", "Marco", "José", "Tesfaye", "Rahul", "Hamza", "Ibrahim", "Emre",
)  # fmt: skip
OTHER_FEMALE_NAMES = (
    "Fatima", "Aisha", "Elif", "Zeynep", "Meryem", "Khadija", "Anna-Maria", "Katarzyna",
    "Agnieszka", "Ioana", "Elena", "Lucia", "Ana", "Mariam", "Priya", "Nour", "Hiba", "Selin",
)  # fmt: skip

DUTCH = "0001"
UNKNOWN = "0000"
# Four-digit codes in the style of the BRP nationality table, with rough weights.
FOREIGN_NATIONALITIES = (
    ("0052", 3), ("0055", 6), ("0057", 2), ("0064", 2), ("0078", 9), ("0079", 2),
    ("0080", 4), ("0083", 2), ("0100", 2), ("0250", 8), ("0263", 9), ("0308", 5),
    ("0333", 3), ("0409", 2), ("0437", 2),
)  # fmt: skip
