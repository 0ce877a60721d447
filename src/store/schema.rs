// @generated automatically by Diesel CLI.

diesel::table! {
    applied_events (event_id, customer_id) {
        event_id -> Int8,
        subscription_id -> Text,
        family_id -> Text,
        applied_on -> Date,
        retention_days -> Nullable<Int4>,
        customer_id -> Text,
    }
}

diesel::table! {
    charge_lines (line_id, customer_id) {
        line_id -> Int8,
        subscription_id -> Text,
        customer_id -> Text,
        charge_type -> Text,
        start_date -> Date,
        end_date -> Date,
        billable_days -> Int4,
        period_days -> Int4,
        unit_price -> Numeric,
        quantity -> Numeric,
        amount -> Numeric,
        posted_on -> Date,
        cause -> Text,
        corrects_line_id -> Nullable<Int8>,
        invoice_period_start -> Date,
    }
}

diesel::table! {
    customers (customer_id) {
        customer_id -> Text,
        name -> Text,
        country -> Text,
        segment -> Text,
        currency -> Text,
        account_opened_on -> Date,
    }
}

diesel::table! {
    inbox_files (file_id) {
        file_id -> Int8,
        file_name -> Text,
        sha256 -> Text,
        logical_date -> Date,
        outcome -> Text,
        error -> Nullable<Text>,
        rows_received -> Int4,
        rows_staged -> Int4,
        rows_rejected -> Int4,
        recorded_at -> Timestamptz,
    }
}

diesel::table! {
    invoice_runs (period_start) {
        period_start -> Date,
        period_end -> Date,
        emitted_on -> Date,
        invoice_count -> Int4,
        line_count -> Int4,
    }
}

diesel::table! {
    invoices (invoice_number, customer_id) {
        invoice_number -> Text,
        customer_id -> Text,
        period_start -> Date,
        period_end -> Date,
        line_count -> Int4,
        total -> Numeric,
        currency -> Text,
    }
}

diesel::table! {
    job_runs (job, logical_date) {
        job -> Text,
        logical_date -> Date,
        status -> Text,
        attempt -> Int4,
        trigger -> Text,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        counts -> Text,
        error -> Nullable<Text>,
        lock_pid -> Nullable<Int4>,
    }
}

diesel::table! {
    offers (offer_id) {
        offer_id -> Text,
        name -> Text,
        publisher -> Text,
        publisher_name -> Text,
        billing_type -> Text,
        billing_frequency -> Text,
        term_months -> Int4,
        unit_price -> Numeric,
        currency -> Text,
        category -> Text,
        segments -> Array<Text>,
        one_per_customer -> Bool,
        trial_days -> Int4,
        csp_available -> Bool,
        transactable -> Bool,
        countries -> Array<Text>,
        exclusive_partners -> Array<Text>,
        is_addon -> Bool,
        base_offers -> Array<Text>,
        min_quantity -> Nullable<Int4>,
        max_quantity -> Nullable<Int4>,
        publisher_setup_url -> Nullable<Text>,
    }
}

diesel::table! {
    output_owner (singleton) {
        singleton -> Bool,
        database_id -> Text,
        output_dir -> Text,
        claimed_at -> Timestamptz,
    }
}

diesel::table! {
    rejected_rows (reject_id) {
        reject_id -> Int8,
        processed_on -> Date,
        file_id -> Int8,
        source_line -> Int4,
        event_id -> Nullable<Int8>,
        error_code -> Text,
        error_message -> Text,
        raw -> Array<Text>,
    }
}

diesel::table! {
    staged_events (event_id) {
        event_id -> Int8,
        file_id -> Int8,
        source_line -> Int4,
        order_id -> Text,
        line -> Int4,
        event_time -> Timestamptz,
        event_date -> Date,
        action -> Text,
        customer_id -> Text,
        requested_by -> Text,
        partner_id -> Text,
        offer_id -> Nullable<Text>,
        quantity -> Nullable<Numeric>,
        subscription_id -> Nullable<Text>,
        base_subscription_id -> Nullable<Text>,
        auto_renew -> Nullable<Bool>,
        reason -> Nullable<Text>,
        raw -> Nullable<Array<Text>>,
    }
}

diesel::table! {
    state_clock (singleton) {
        singleton -> Bool,
        through_date -> Date,
        through_step -> Int2,
        orders_event_mark -> Int8,
        orders_date_mark -> Nullable<Date>,
    }
}

diesel::table! {
    subscriptions (subscription_id, customer_id) {
        subscription_id -> Text,
        family_id -> Text,
        parent_subscription_id -> Nullable<Text>,
        customer_id -> Text,
        offer_id -> Text,
        order_id -> Text,
        order_line -> Int4,
        purchased_at -> Timestamptz,
        billing_type -> Text,
        billing_months -> Int2,
        term_months -> Int2,
        unit_price -> Numeric,
        currency -> Text,
        trial_days -> Int4,
        status -> Text,
        in_trial -> Bool,
        quantity -> Nullable<Numeric>,
        auto_renew -> Bool,
        cancel_at_term_end -> Bool,
        cancel_with_base -> Bool,
        trial_end_date -> Nullable<Date>,
        paid_start -> Nullable<Date>,
        anchor_date -> Nullable<Date>,
        suspended_on -> Nullable<Date>,
        suspended_with_base -> Bool,
        data_expires_on -> Nullable<Date>,
        ended_on -> Nullable<Date>,
        usage_units -> Numeric,
        anchor_day -> Nullable<Int2>,
        anchor_month -> Nullable<Int2>,
    }
}

diesel::joinable!(applied_events -> staged_events (event_id));
diesel::joinable!(rejected_rows -> inbox_files (file_id));
diesel::joinable!(rejected_rows -> staged_events (event_id));

diesel::allow_tables_to_appear_in_same_query!(
    applied_events,
    charge_lines,
    customers,
    inbox_files,
    invoice_runs,
    invoices,
    job_runs,
    offers,
    output_owner,
    rejected_rows,
    staged_events,
    state_clock,
    subscriptions,
);
