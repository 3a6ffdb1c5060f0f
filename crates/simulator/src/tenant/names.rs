//! Embedded word lists: people's names for mailbox addresses, company-name parts for tenant and
//! partner domains, brands for bulk senders. Names are ASCII because Exchange addresses of real
//! tenants almost always are (display names may not be, but message trace has no display names).
//! The tables skip rustfmt, which would otherwise put every word on its own line.

/// Given names from many cultures, so a tenant looks international.
#[rustfmt::skip]
pub(crate) const FIRST_NAMES: &[&str] = &[
    "anna", "lukas", "maria", "jonas", "sophie", "felix", "laura", "paul", "julia", "leon",
    "lena", "tim", "sarah", "max", "lisa", "jan", "katharina", "david", "marie", "daniel",
    "james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william",
    "elizabeth", "richard", "susan", "joseph", "jessica", "thomas", "karen", "charles", "nancy",
    "christopher", "emily", "matthew", "ashley", "anthony", "olivia", "mark", "emma", "steven",
    "amelia", "andrew", "grace", "jean", "camille", "louis", "chloe", "hugo", "manon", "arthur",
    "ines", "jules", "lea", "pierre", "claire", "antoine", "margaux", "giulia", "marco",
    "francesca", "luca", "chiara", "alessandro", "sofia", "javier", "lucia", "carlos", "carmen",
    "pablo", "elena", "diego", "ana", "miguel", "joao", "beatriz", "pedro", "mariana", "lars",
    "ingrid", "erik", "astrid", "nils", "freya", "piotr", "agnieszka", "tomasz", "katarzyna",
    "jakub", "zofia", "ivan", "olga", "dmitri", "natalia", "mehmet", "ayse", "emre", "elif",
    "ahmed", "fatima", "omar", "leila", "yusuf", "amina", "raj", "priya", "arjun", "ananya",
    "vikram", "deepa", "wei", "li", "jun", "mei", "hiroshi", "yuki", "kenji", "sakura", "takeshi",
    "aiko", "minjun", "jiwoo", "seo-yeon", "kwame", "ama", "chinedu", "ngozi", "thabo", "zanele",
    "liam", "noah", "ava", "mia", "ethan", "isabella", "lucas", "harper", "oscar", "ida",
];

#[rustfmt::skip]
pub(crate) const LAST_NAMES: &[&str] = &[
    "mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "schulz",
    "hoffmann", "koch", "richter", "klein", "wolf", "neumann", "schwarz", "braun", "zimmermann",
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
    "martinez", "hernandez", "lopez", "wilson", "anderson", "taylor", "moore", "jackson",
    "martin", "lee", "thompson", "white", "harris", "clark", "lewis", "walker", "hall", "young",
    "king", "wright", "scott", "green", "baker", "adams", "nelson", "bernard", "dubois",
    "thomas", "robert", "richard", "petit", "durand", "leroy", "moreau", "simon", "laurent",
    "lefebvre", "michel", "rossi", "russo", "ferrari", "esposito", "bianchi", "romano",
    "colombo", "ricci", "marino", "fernandez", "gonzalez", "sanchez", "perez", "gomez",
    "silva", "santos", "oliveira", "souza", "pereira", "costa", "jansen", "devries", "bakker",
    "visser", "smit", "andersson", "johansson", "karlsson", "nilsson", "hansen", "nielsen",
    "kowalski", "nowak", "wisniewski", "wojcik", "ivanov", "petrov", "smirnov", "yilmaz",
    "kaya", "demir", "celik", "hassan", "ali", "mohamed", "ibrahim", "sharma", "patel", "singh",
    "kumar", "gupta", "reddy", "wang", "zhang", "liu", "chen", "yang", "huang", "tanaka",
    "suzuki", "takahashi", "watanabe", "sato", "kim", "park", "choi", "nguyen", "tran",
    "mensah", "okafor", "adeyemi", "dlamini", "nkosi", "obrien", "murphy", "kelly", "walsh",
];

/// Stems for the tenant's own name (Microsoft's fictional companies plus a few more).
#[rustfmt::skip]
pub(crate) const TENANT_STEMS: &[&str] = &[
    "contoso", "fabrikam", "northwind", "adatum", "tailspin", "woodgrove", "litware",
    "proseware", "wingtip", "lucerne", "alpineski", "fourthcoffee", "margie", "relecloud",
    "trey", "wideworld", "coho", "humongous", "blueyonder", "graphicdesign",
];

/// Parts for partner company domains: `<prefix><suffix>.<tld>`.
#[rustfmt::skip]
pub(crate) const PARTNER_PREFIXES: &[&str] = &[
    "acme", "global", "nordic", "alpha", "blue", "green", "silver", "golden", "united",
    "prime", "nova", "terra", "astra", "vertex", "summit", "pioneer", "atlas", "orion",
    "delta", "sigma", "apex", "zenith", "harbor", "river", "stone", "iron", "bright", "clear",
    "swift", "rapid", "smart", "first", "metro", "euro", "trans", "inter", "omni", "poly",
    "tech", "data", "cloud", "micro", "macro", "bio", "agri", "medi", "auto", "aero",
];

#[rustfmt::skip]
pub(crate) const PARTNER_SUFFIXES: &[&str] = &[
    "logistics", "consulting", "systems", "solutions", "partners", "industries", "group",
    "holding", "trading", "services", "labs", "works", "supply", "finance", "law", "capital",
    "energy", "pharma", "media", "design", "engineering", "foods", "retail", "textiles",
    "software", "networks", "insurance", "bank", "realty", "freight",
];

/// Brands of newsletter and marketing senders (fictional).
#[rustfmt::skip]
pub(crate) const BULK_BRANDS: &[&str] = &[
    "techdigest", "marketwatchers", "travelzone", "officeplus", "cloudweekly", "fintechnews",
    "shopmart", "flyaway", "hotelhub", "eventbrite-like", "learnfast", "devjournal",
    "securitybrief", "hrtoday", "salesboost", "supplychain-insider", "greenenergy-news",
    "webinarpro", "conferencehub", "bookworld", "gadgetstore", "fitlife", "foodies",
    "industryreport", "analystcorner",
];

/// Words for spam and phishing domains.
#[rustfmt::skip]
pub(crate) const SPAM_WORDS: &[&str] = &[
    "secure", "verify", "account", "update", "login", "support", "billing", "invoice",
    "mailbox", "office", "docs", "share", "payment", "wallet", "crypto", "prize", "delivery",
    "parcel", "bank", "alert", "service", "helpdesk", "password", "reset", "portal",
];

#[rustfmt::skip]
pub(crate) const SPAM_TLDS: &[&str] = &[
    "xyz", "top", "click", "info", "online", "site", "shop", "live", "icu", "buzz", "ru", "cn",
];

/// Project and topic words for subjects.
#[rustfmt::skip]
pub(crate) const PROJECTS: &[&str] = &[
    "Phoenix", "Atlas", "Horizon", "Apollo", "Mercury", "Nimbus", "Orion", "Quantum",
    "Falcon", "Titan", "Neptune", "Helios", "Aurora", "Zephyr", "Polaris", "Vega",
];

#[rustfmt::skip]
pub(crate) const MONTHS: &[&str] = &[
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
];

#[rustfmt::skip]
pub(crate) const WEEKDAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"];
