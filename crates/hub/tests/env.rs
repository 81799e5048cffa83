//! Reading `HF_ENDPOINT` and `HF_TOKEN`. The only test in this binary, so changing the process
//! environment races with nothing.

#![allow(clippy::unwrap_used)]

use allmende_hub::{HubClient, DEFAULT_ENDPOINT, ENV_ENDPOINT, ENV_TOKEN};

#[test]
fn endpoint_and_token_come_from_the_environment() {
    // SAFETY: this binary runs this single test; no other thread reads the environment.
    unsafe {
        std::env::remove_var(ENV_ENDPOINT);
        std::env::remove_var(ENV_TOKEN);
    }
    let c = HubClient::from_env().unwrap();
    assert_eq!(c.endpoint(), DEFAULT_ENDPOINT);
    assert!(!c.has_token());

    // SAFETY: as above.
    unsafe {
        std::env::set_var(ENV_ENDPOINT, "http://127.0.0.1:9/mirror/");
        std::env::set_var(ENV_TOKEN, "hf_abc");
    }
    let c = HubClient::from_env().unwrap();
    assert_eq!(c.endpoint(), "http://127.0.0.1:9/mirror");
    assert!(c.has_token());
    assert!(!format!("{c:?}").contains("hf_abc"));

    // An empty token is no token; a bad endpoint is a typed error.
    // SAFETY: as above.
    unsafe {
        std::env::set_var(ENV_TOKEN, "");
        std::env::set_var(ENV_ENDPOINT, "huggingface.co");
    }
    let err = HubClient::from_env().unwrap_err();
    assert!(err.to_string().contains("huggingface.co"), "{err}");
    // SAFETY: as above.
    unsafe { std::env::set_var(ENV_ENDPOINT, "https://hf-mirror.example") };
    assert!(!HubClient::from_env().unwrap().has_token());
}
