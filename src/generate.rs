//! `subsweep generate`: a deterministic data set at any size, for benchmarks and load tests.
//!
//! It writes `offers.csv` (a small catalog every generated customer may buy from),
//! `customers.csv`, and order files in `inbox/`: day one is all purchases; later days mix
//! seat changes, suspensions and reactivations, auto-renew switches, cancellations, usage and
//! more purchases, always on subscriptions the earlier rows created, so the rules accept
//! nearly every row. The same seed gives the same bytes.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use chrono::{Days, NaiveDate, NaiveTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::domain::order::COLUMNS;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Plan {
    pub customers: u64,
    pub orders: u64,
    pub seed: u64,
    pub partner: String,
    /// The first event date.
    pub start: NaiveDate,
    /// Over how many days the orders are spread (one file per day).
    pub days: u64,
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub files: usize,
    pub rows: u64,
}

const OFFERS: &str = "\
offer_id,name,publisher,publisher_name,billing_type,billing_frequency,term_months,unit_price,currency,category,segments,one_per_customer,trial_days,csp_available,transactable,countries,exclusive_partners,is_addon,base_offers,min_quantity,max_quantity,publisher_setup_url
GEN-M365-BP,Microsoft 365 Business Premium,microsoft,Microsoft Corporation,license,monthly,12,22.00,USD,small_business,commercial;education;nonprofit;government,false,0,true,true,*,,false,,1,,
GEN-M365-E3,Microsoft 365 E3 (annual billing),microsoft,Microsoft Corporation,license,annual,12,432.00,USD,enterprise,commercial;education;nonprofit;government,false,0,true,true,*,,false,,1,,
GEN-TEAMS,Microsoft Teams Essentials (trial),microsoft,Microsoft Corporation,license,monthly,1,4.00,USD,trial,commercial;education;nonprofit;government,false,30,true,true,*,,false,,1,,
GEN-CRM,Contoso CRM Cloud,isv,Contoso Ltd,license,monthly,12,15.00,USD,small_business,commercial;education;nonprofit;government,false,0,true,true,*,,false,,1,,https://contoso.example/setup
GEN-AZURE,Azure plan,microsoft,Microsoft Corporation,usage,monthly,1,0.01,USD,enterprise,commercial;education;nonprofit;government,false,0,true,true,*,,false,,,,
";

/// Offers a purchase picks from, with weights (the usage offer is bought without quantity).
const PURCHASABLE: [(&str, u32); 5] = [
    ("GEN-M365-BP", 50),
    ("GEN-M365-E3", 15),
    ("GEN-TEAMS", 10),
    ("GEN-CRM", 15),
    ("GEN-AZURE", 10),
];

const COUNTRIES: [&str; 6] = ["US", "CA", "GB", "DE", "FR", "AU"];
const SEGMENTS: [&str; 4] = ["commercial", "education", "government", "nonprofit"];
const ROLES: [&str; 5] = [
    "admin_agent",
    "billing_admin",
    "global_admin",
    "helpdesk_agent",
    "sales_agent",
];

/// A subscription the generator created, to act on later.
#[derive(Clone)]
struct Made {
    id: String,
    customer: u64,
    usage: bool,
    suspended: bool,
    ended: bool,
}

/// Writes the data set into `out`.
pub fn generate(plan: &Plan, out: &Path) -> std::io::Result<Written> {
    let inbox = out.join("inbox");
    fs::create_dir_all(&inbox)?;
    fs::write(out.join("offers.csv"), OFFERS)?;
    let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
    write_customers(plan, &out.join("customers.csv"), &mut rng)?;

    let days = plan.days.max(1);
    let per_day = plan.orders / days;
    let mut made: Vec<Made> = Vec::new();
    let mut written = Written::default();
    for day in 0..days {
        let date = plan.start + Days::new(day);
        let rows = if day + 1 == days {
            plan.orders - per_day * (days - 1)
        } else {
            per_day
        };
        let path = inbox.join(format!("orders-{date}.csv"));
        let mut file = BufWriter::with_capacity(1 << 20, File::create(&path)?);
        writeln!(file, "{}", COLUMNS.join(","))?;
        for n in 0..rows {
            // Spread the day's rows over its seconds, in order, as an export would list them.
            let second = (n * 86_399 / rows.max(1)) as u32;
            let time = NaiveTime::from_num_seconds_from_midnight_opt(second, 0)
                .expect("a second of the day");
            let stamp = format!("{date}T{}Z", time.format("%H:%M:%S"));
            let order_id = format!("G{}-{n}", date.format("%Y%m%d"));
            let row = next_row(plan, &mut rng, &mut made, day == 0, &order_id, &stamp);
            writeln!(file, "{row}")?;
        }
        file.flush()?;
        written.files += 1;
        written.rows += rows;
    }
    Ok(written)
}

fn write_customers(plan: &Plan, path: &Path, rng: &mut ChaCha8Rng) -> std::io::Result<()> {
    let mut file = BufWriter::new(File::create(path)?);
    writeln!(
        file,
        "customer_id,name,country,segment,currency,account_opened_on"
    )?;
    for c in 0..plan.customers {
        let opened = plan.start - Days::new(rng.random_range(0..400));
        writeln!(
            file,
            "{},Customer {c} Ltd,{},{},USD,{opened}",
            customer_id(c),
            COUNTRIES[rng.random_range(0..COUNTRIES.len())],
            SEGMENTS[rng.random_range(0..SEGMENTS.len())],
        )?;
    }
    file.flush()
}

fn customer_id(n: u64) -> String {
    format!("GC-{n:07}")
}

/// One order row: purchases on the first day, a realistic mix afterwards.
fn next_row(
    plan: &Plan,
    rng: &mut ChaCha8Rng,
    made: &mut Vec<Made>,
    first_day: bool,
    order_id: &str,
    stamp: &str,
) -> String {
    let role = ROLES[rng.random_range(0..ROLES.len())];
    let p = &plan.partner;
    let pick: u32 = rng.random_range(0..100);
    if first_day || made.is_empty() || pick < 40 {
        let customer = rng.random_range(0..plan.customers.max(1));
        let offer = weighted(rng);
        let usage = offer == "GEN-AZURE";
        let quantity = if usage {
            String::new()
        } else {
            rng.random_range(1..=50).to_string()
        };
        made.push(Made {
            id: format!("{order_id}-1"),
            customer,
            usage,
            suspended: false,
            ended: false,
        });
        return format!(
            "{order_id},1,{stamp},purchase,{},{role},{p},{offer},{quantity},,,,",
            customer_id(customer)
        );
    }
    let index = rng.random_range(0..made.len());
    let sub = &mut made[index];
    let customer = customer_id(sub.customer);
    let id = sub.id.clone();
    let row = |action: &str, quantity: &str, auto_renew: &str, reason: &str| {
        format!(
            "{order_id},1,{stamp},{action},{customer},{role},{p},,{quantity},{id},,{auto_renew},{reason}"
        )
    };
    if sub.ended {
        // Acting on an ended subscription is rejected (invalid_transition): keep a few.
        return row("change_quantity", "3", "", "");
    }
    if sub.suspended {
        sub.suspended = false;
        return row("reactivate", "", "", "");
    }
    if sub.usage {
        return if pick < 95 {
            let units = format!("{}.{}", rng.random_range(0..5000), rng.random_range(0..10));
            row("usage", &units, "", "")
        } else {
            sub.ended = true;
            row("cancel", "", "", "customer_request")
        };
    }
    match pick {
        40..=69 => row(
            "change_quantity",
            &rng.random_range(1..=60).to_string(),
            "",
            "",
        ),
        70..=79 => {
            sub.suspended = true;
            row("suspend", "", "", "nonpayment")
        }
        80..=89 => row(
            "set_auto_renew",
            "",
            if rng.random_bool(0.5) {
                "true"
            } else {
                "false"
            },
            "",
        ),
        _ => {
            sub.ended = true;
            row("cancel", "", "", "customer_request")
        }
    }
}

fn weighted(rng: &mut ChaCha8Rng) -> &'static str {
    let total: u32 = PURCHASABLE.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (offer, weight) in PURCHASABLE {
        if pick < weight {
            return offer;
        }
        pick -= weight;
    }
    PURCHASABLE[0].0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(seed: u64) -> Plan {
        Plan {
            customers: 50,
            orders: 400,
            seed,
            partner: "P-GEN".into(),
            start: NaiveDate::from_ymd_opt(2026, 1, 5).unwrap(),
            days: 4,
        }
    }

    fn read_all(dir: &Path) -> String {
        let mut names: Vec<_> = fs::read_dir(dir.join("inbox"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| fs::read_to_string(p).unwrap())
            .collect::<Vec<_>>()
            .join("")
            + &fs::read_to_string(dir.join("customers.csv")).unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let written = generate(&plan(7), a.path()).unwrap();
        generate(&plan(7), b.path()).unwrap();
        generate(&plan(8), c.path()).unwrap();
        assert_eq!((written.files, written.rows), (4, 400));
        assert_eq!(read_all(a.path()), read_all(b.path()));
        assert_ne!(read_all(a.path()), read_all(c.path()));
    }

    #[test]
    fn the_first_day_is_all_purchases_and_later_days_mix_actions() {
        let dir = tempfile::tempdir().unwrap();
        generate(&plan(1), dir.path()).unwrap();
        let first = fs::read_to_string(dir.path().join("inbox/orders-2026-01-05.csv")).unwrap();
        assert_eq!(first.lines().count(), 101);
        assert!(first.lines().skip(1).all(|l| l.contains(",purchase,")));
        let later = fs::read_to_string(dir.path().join("inbox/orders-2026-01-07.csv")).unwrap();
        for action in ["purchase", "change_quantity", "suspend", "set_auto_renew"] {
            assert!(
                later.contains(&format!(",{action},")),
                "{action} in {later}"
            );
        }
        assert!(later.lines().all(|l| l.split(',').count() == 13));
    }
}
