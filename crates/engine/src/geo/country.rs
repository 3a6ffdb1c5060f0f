//! ISO 3166 country codes to English names and continents (keshvar's tables). Sumo shows
//! common English names ("United States", "United Kingdom") where ISO's short names are
//! formal ("United States of America"), so a few names are overridden here; users filter
//! on these strings (`country_name matches "United States"`).

use keshvar::{Alpha2, Continent};

const COMMON_NAMES: [(&str, &str); 22] = [
    ("US", "United States"),
    ("GB", "United Kingdom"),
    ("RU", "Russia"),
    ("KR", "South Korea"),
    ("KP", "North Korea"),
    ("IR", "Iran"),
    ("VN", "Vietnam"),
    ("TW", "Taiwan"),
    ("BO", "Bolivia"),
    ("VE", "Venezuela"),
    ("TZ", "Tanzania"),
    ("SY", "Syria"),
    ("LA", "Laos"),
    ("MD", "Moldova"),
    ("CZ", "Czechia"),
    ("NL", "Netherlands"),
    ("PS", "Palestine"),
    ("FM", "Micronesia"),
    ("CD", "DR Congo"),
    ("BN", "Brunei"),
    ("MK", "North Macedonia"),
    ("XK", "Kosovo"),
];

/// English name of an ISO 3166-1 alpha-2 code, e.g. `DE` -> `Germany`.
pub fn country_name(code: &str) -> Option<&'static str> {
    let upper = code.to_ascii_uppercase();
    if let Some((_, name)) = COMMON_NAMES.iter().find(|(c, _)| *c == upper) {
        return Some(name);
    }
    let alpha2 = Alpha2::try_from(upper.as_str()).ok()?;
    Some(alpha2.to_country().iso_short_name())
}

/// Continent of an ISO 3166-1 alpha-2 code, e.g. `DE` -> `Europe`.
pub fn continent_name(code: &str) -> Option<&'static str> {
    let upper = code.to_ascii_uppercase();
    if upper == "XK" {
        return Some("Europe");
    }
    let alpha2 = Alpha2::try_from(upper.as_str()).ok()?;
    Some(match alpha2.to_country().continent() {
        Continent::Africa => "Africa",
        Continent::Antarctica => "Antarctica",
        Continent::Asia => "Asia",
        Continent::Australia => "Oceania",
        Continent::Europe => "Europe",
        Continent::NorthAmerica => "North America",
        Continent::SouthAmerica => "South America",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_common_names_and_continents() {
        assert_eq!(country_name("de"), Some("Germany"));
        assert_eq!(country_name("US"), Some("United States"));
        assert_eq!(country_name("GB"), Some("United Kingdom"));
        assert_eq!(continent_name("BR"), Some("South America"));
        assert_eq!(continent_name("AU"), Some("Oceania"));
        assert_eq!(continent_name("JP"), Some("Asia"));
        assert_eq!(country_name("ZZ"), None);
    }
}
