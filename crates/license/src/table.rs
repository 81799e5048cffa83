//! The licences allmende knows: canonical id, name, aliases, reference link, commercial use and
//! obligations. SPDX ids keep SPDX's case; hub-only licence ids are lowercase, as the hub writes
//! them. Obligations are summaries in our own words; only the notice strings a licence prescribes
//! are quoted, because a redistributor has to reproduce them exactly.
//!
//! Facts checked against the licence texts: Llama 2 (18 July 2023), Meta Llama 3 (18 April 2024),
//! Llama 3.1 (23 July 2024), 3.2 (25 September 2024), 3.3 (6 December 2024), Llama 4 (5 April
//! 2025), Gemma Terms of Use, the RAIL family's Attachment A, the Qwen / Tongyi Qianwen
//! agreements, the Falcon 180B TII licence.

use crate::report::{CommercialUse, ObligationKind as K};

/// What allmende knows about one licence.
#[derive(Debug)]
pub struct LicenseInfo {
    /// Canonical id: SPDX case for SPDX licences, lowercase hub id otherwise.
    pub id: &'static str,
    /// Human-readable name.
    pub name: &'static str,
    /// Other spellings accepted for the id (matched case-insensitively) and names (matched after
    /// normalising punctuation and whitespace).
    pub aliases: &'static [&'static str],
    /// Reference link, where one is stable.
    pub link: Option<&'static str>,
    /// Whether commercial use is allowed.
    pub commercial: CommercialUse,
    /// What the commercial-use answer depends on.
    pub commercial_note: &'static str,
    /// The licensee's duties.
    pub obligations: &'static [(K, &'static str)],
}

const APACHE: &[(K, &str)] = &[
    (
        K::LicenceCopy,
        "Give every recipient a copy of the Apache License 2.0.",
    ),
    (
        K::Attribution,
        "Keep the copyright, patent, trademark and attribution notices of the source form.",
    ),
    (
        K::Notice,
        "If the work has a NOTICE file, pass its attribution notices on with every redistribution.",
    ),
    (
        K::ModificationNotice,
        "Mark files you modified with a prominent notice that you changed them.",
    ),
];
const MIT: &[(K, &str)] = &[(
    K::Attribution,
    "Include the copyright notice and the MIT permission notice in all copies or substantial portions.",
)];
const BSD2: &[(K, &str)] = &[(
    K::Attribution,
    "Keep the copyright notice, the conditions and the disclaimer in source form and reproduce them in the documentation of binary forms.",
)];
const BSD3: &[(K, &str)] = &[
    BSD2[0],
    (K::Trademark, "Do not use the names of the copyright holder or contributors to endorse or promote derived products without written permission."),
];
const ISC: &[(K, &str)] = &[(
    K::Attribution,
    "Keep the copyright notice and the permission notice in all copies.",
)];
const BSL: &[(K, &str)] = &[(
    K::Attribution,
    "Keep the licence text and copyright notice in source copies (not required in machine-executable object code).",
)];
const NONE: &[(K, &str)] = &[];

const CC_ATTR: (K, &str) = (
    K::Attribution,
    "Credit the creator, link the licence and say whether you made changes.",
);
const CC_SA: (K, &str) = (
    K::ShareAlike,
    "Adapted material you share must carry the same licence or a compatible one.",
);
const CC_NC: (K, &str) = (
    K::NonCommercial,
    "Use is limited to non-commercial purposes.",
);
const CC_ND: (K, &str) = (K::NoDerivatives, "You may not share adapted material.");

const GPL: &[(K, &str)] = &[
    (K::Copyleft, "Works based on it that you distribute must be licensed as a whole under the same GPL, with the corresponding source code available to recipients."),
    (K::LicenceCopy, "Give recipients a copy of the licence."),
];
const LGPL: &[(K, &str)] = &[
    (K::Copyleft, "Changes to the library itself must stay under the LGPL with source available; works that only use it must let users replace or relink the library."),
    (K::LicenceCopy, "Give recipients a copy of the licence."),
];
const AGPL: &[(K, &str)] = &[
    GPL[0],
    GPL[1],
    (K::NetworkUse, "If users interact with a modified version over a network, offer them its corresponding source."),
];
const MPL: &[(K, &str)] = &[
    (K::Copyleft, "Files under the MPL that you modify must stay under the MPL with their source available; larger works may combine them with other licences."),
    (K::LicenceCopy, "Give recipients a copy of the licence."),
];

const LLAMA2: &[(K, &str)] = &[
    (K::LicenceCopy, "Give a copy of the Llama 2 Community License Agreement to anyone you distribute the Llama Materials or derivatives to."),
    (K::Notice, "Keep a \"Notice\" text file with the copies you distribute, containing: \"Llama 2 is licensed under the LLAMA 2 Community License, Copyright (c) Meta Platforms, Inc. All Rights Reserved.\""),
    (K::AcceptableUse, "All use must comply with the Llama 2 Acceptable Use Policy."),
    (K::Outputs, "Do not use Llama 2 or its outputs to improve any other large language model (Llama 2 and its derivatives excepted)."),
    (K::UserThreshold, "If your products or services had more than 700 million monthly active users on the Llama 2 release date (18 July 2023), you need a separate licence from Meta."),
];
const LLAMA3: &[(K, &str)] = &[
    (K::LicenceCopy, "Give a copy of the Meta Llama 3 Community License Agreement to anyone you distribute the Llama Materials or derivatives to."),
    (K::Attribution, "Display \"Built with Meta Llama 3\" prominently on a related website, user interface, blog post, about page or product documentation when you distribute it or a product that contains it."),
    (K::Naming, "AI models you create, train, fine-tune or improve with Llama 3 and distribute must have names that begin with \"Llama 3\"."),
    (K::Notice, "Keep a \"Notice\" text file with the copies you distribute, containing: \"Meta Llama 3 is licensed under the Meta Llama 3 Community License, Copyright © Meta Platforms, Inc. All Rights Reserved.\""),
    (K::AcceptableUse, "All use must comply with the Meta Llama 3 Acceptable Use Policy."),
    (K::Outputs, "Do not use Llama 3 or its outputs to improve any other large language model (Meta Llama 3 and its derivatives excepted)."),
    (K::UserThreshold, "If your products or services had more than 700 million monthly active users on the Meta Llama 3 release date (18 April 2024), you need a separate licence from Meta."),
];

/// Llama 3.1 and later share one structure: "Built with Llama", names beginning with "Llama",
/// no restriction on using outputs, the 700 million MAU threshold at the version's release date.
macro_rules! llama_later {
    ($v:literal, $date:literal) => {
        &[
            (K::LicenceCopy, concat!("Give a copy of the Llama ", $v, " Community License Agreement to anyone you distribute the Llama Materials or derivatives to.")),
            (K::Attribution, "Display \"Built with Llama\" prominently on a related website, user interface, blog post, about page or product documentation when you distribute it or a product that contains it."),
            (K::Naming, concat!("AI models you create, train, fine-tune or improve with Llama ", $v, " and distribute must have names that begin with \"Llama\".")),
            (K::Notice, concat!("Keep a \"Notice\" text file with the copies you distribute, containing: \"Llama ", $v, " is licensed under the Llama ", $v, " Community License, Copyright © Meta Platforms, Inc. All Rights Reserved.\"")),
            (K::AcceptableUse, concat!("All use must comply with the Llama ", $v, " Acceptable Use Policy.")),
            (K::UserThreshold, concat!("If your products or services had more than 700 million monthly active users on the Llama ", $v, " release date (", $date, "), you need a separate licence from Meta.")),
        ]
    };
    ($v:literal, $date:literal, eu) => {
        &[
            (K::LicenceCopy, concat!("Give a copy of the Llama ", $v, " Community License Agreement to anyone you distribute the Llama Materials or derivatives to.")),
            (K::Attribution, "Display \"Built with Llama\" prominently on a related website, user interface, blog post, about page or product documentation when you distribute it or a product that contains it."),
            (K::Naming, concat!("AI models you create, train, fine-tune or improve with Llama ", $v, " and distribute must have names that begin with \"Llama\".")),
            (K::Notice, concat!("Keep a \"Notice\" text file with the copies you distribute, containing: \"Llama ", $v, " is licensed under the Llama ", $v, " Community License, Copyright © Meta Platforms, Inc. All Rights Reserved.\"")),
            (K::AcceptableUse, concat!("All use must comply with the Llama ", $v, " Acceptable Use Policy.")),
            (K::UserThreshold, concat!("If your products or services had more than 700 million monthly active users on the Llama ", $v, " release date (", $date, "), you need a separate licence from Meta.")),
            (K::Territory, concat!("The Llama ", $v, " Acceptable Use Policy withholds the licence rights to its multimodal models from individuals domiciled in, and companies with their principal place of business in, the European Union (end users of products that incorporate them are not affected).")),
        ]
    };
}

const LLAMA_NOTE: &str = "commercial use allowed, except for licensees above the 700 million monthly-active-user threshold, who need a separate licence from Meta; all use is bound by the acceptable use policy";

const GEMMA: &[(K, &str)] = &[
    (K::AcceptableUse, "Do not use Gemma or Model Derivatives for the restricted uses of the Gemma Prohibited Use Policy (ai.google.dev/gemma/prohibited_use_policy) or against applicable law."),
    (K::PassOnRestrictions, "When you distribute Gemma or Model Derivatives, make the use restrictions of section 3.2 an enforceable provision of your agreement with recipients and give them notice of it."),
    (K::LicenceCopy, "Give recipients a copy of the Gemma Terms of Use."),
    (K::ModificationNotice, "Mark modified files with prominent notices that you changed them."),
    (K::Notice, "Ship a \"Notice\" text file with every copy you distribute, containing: \"Gemma is provided under and subject to the Gemma Terms of Use found at ai.google.dev/gemma/terms\""),
    (K::Outputs, "Models trained to reproduce Gemma from its weights, parameters, operations or outputs (e.g. by distillation) are Model Derivatives under these terms; Google claims no rights in the outputs themselves."),
];

const RAIL: &[(K, &str)] = &[
    (K::AcceptableUse, "Do not use the model or its derivatives for the use-based restrictions listed in the licence (Attachment A)."),
    (K::PassOnRestrictions, "Make the use-based restrictions an enforceable provision of every agreement under which you distribute the model or derivatives, and give recipients notice of them."),
    (K::LicenceCopy, "Give recipients a copy of the licence."),
    (K::ModificationNotice, "Mark modified files with prominent notices that you changed them."),
    (K::Outputs, "Outputs may not be used in ways that break the use-based restrictions; you are accountable for the outputs you generate."),
];
const RAIL_NOTE: &str =
    "commercial use allowed, subject to the use-based restrictions of the licence";

const FALCON180: &[(K, &str)] = &[
    (K::Hosting, "Hosting Use (offering the model or derivatives as a shared instance, managed service or API) needs a separate licence from TII."),
    (K::AcceptableUse, "All use must comply with TII's Falcon 180B Acceptable Use Policy, which TII may update."),
    (K::LicenceCopy, "Give recipients a copy of the licence."),
    (K::Attribution, "Keep the copyright and attribution notices of the work."),
];

const QWEN: &[(K, &str)] = &[
    (K::LicenceCopy, "Give a copy of the Qwen License Agreement to anyone you distribute the materials to."),
    (K::Notice, "Keep a \"Notice\" text file with the copies you distribute, containing: \"Qwen is licensed under the Qwen LICENSE AGREEMENT, Copyright (c) Alibaba Cloud. All Rights Reserved.\""),
    (K::Attribution, "If you use Qwen or its outputs to create, train, fine-tune or improve an AI model that you distribute or make available, display \"Built with Qwen\" or \"Improved using Qwen\" prominently in its product documentation."),
    (K::UserThreshold, "If your commercial product or service has more than 100 million monthly active users, you must request a licence from Alibaba Cloud."),
];
const TONGYI: &[(K, &str)] = &[
    (K::LicenceCopy, "Give a copy of the Tongyi Qianwen License Agreement to anyone you distribute the materials to."),
    (K::UserThreshold, "If your commercial product or service has more than 100 million monthly active users, you must request a licence from Alibaba Cloud."),
];
const QWEN_NOTE: &str = "commercial use allowed, except above 100 million monthly active users, where a licence from Alibaba Cloud is needed";
const RESEARCH_ONLY: &[(K, &str)] = &[(
    K::NonCommercial,
    "Use is limited to research and other non-commercial purposes; commercial use needs a separate licence from the licensor.",
)];
const MNPL: &[(K, &str)] = &[(
    K::NonCommercial,
    "Use only in non-production settings (research, testing, evaluation, personal use); commercial or production use needs a separate licence from Mistral AI.",
)];
const MRL: &[(K, &str)] = &[(
    K::NonCommercial,
    "Use only for research; any commercial use needs a separate licence from Mistral AI.",
)];
const ASCL: &[(K, &str)] = &[
    (K::Attribution, "If you redistribute the Apple software unmodified and in full, keep Apple's notice text and disclaimers."),
    (K::Trademark, "Do not use Apple's names, trademarks or logos to endorse or promote derived products without Apple's written permission."),
];

const fn spdx(
    id: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
    link: &'static str,
    obligations: &'static [(K, &'static str)],
) -> LicenseInfo {
    LicenseInfo {
        id,
        name,
        aliases,
        link: Some(link),
        commercial: CommercialUse::Yes,
        commercial_note: "commercial use allowed",
        obligations,
    }
}

const fn model(
    id: &'static str,
    name: &'static str,
    aliases: &'static [&'static str],
    link: Option<&'static str>,
    commercial: CommercialUse,
    commercial_note: &'static str,
    obligations: &'static [(K, &'static str)],
) -> LicenseInfo {
    LicenseInfo {
        id,
        name,
        aliases,
        link,
        commercial,
        commercial_note,
        obligations,
    }
}

const NC_NOTE: &str = "non-commercial use only";

/// Every licence allmende knows, in no particular order.
pub static LICENSES: &[LicenseInfo] = &[
    // Permissive SPDX licences.
    spdx("Apache-2.0", "Apache License 2.0", &["apache 2.0", "apache2", "apache-2", "apache 2", "apache license version 2.0", "apache license v2.0", "apache software license 2.0"], "https://www.apache.org/licenses/LICENSE-2.0", APACHE),
    spdx("MIT", "MIT License", &["mit license", "the mit license"], "https://spdx.org/licenses/MIT.html", MIT),
    spdx("BSD-2-Clause", "BSD 2-Clause \"Simplified\" License", &["bsd-2", "bsd 2 clause", "simplified bsd"], "https://spdx.org/licenses/BSD-2-Clause.html", BSD2),
    spdx("BSD-3-Clause", "BSD 3-Clause \"New\" or \"Revised\" License", &["bsd-3", "bsd 3 clause", "new bsd", "revised bsd"], "https://spdx.org/licenses/BSD-3-Clause.html", BSD3),
    spdx("ISC", "ISC License", &["isc license"], "https://spdx.org/licenses/ISC.html", ISC),
    spdx("BSL-1.0", "Boost Software License 1.0", &["boost software license 1.0", "boost"], "https://spdx.org/licenses/BSL-1.0.html", BSL),
    spdx("Unlicense", "The Unlicense", &["the unlicense"], "https://spdx.org/licenses/Unlicense.html", NONE),
    spdx("CC0-1.0", "Creative Commons Zero v1.0 Universal", &["cc0", "cc0 1.0 universal"], "https://creativecommons.org/publicdomain/zero/1.0/", NONE),
    // Creative Commons 4.0.
    spdx("CC-BY-4.0", "Creative Commons Attribution 4.0 International", &["cc by 4.0"], "https://creativecommons.org/licenses/by/4.0/", &[CC_ATTR]),
    spdx("CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0 International", &["cc by sa 4.0", "creative commons attribution sharealike 4.0 international"], "https://creativecommons.org/licenses/by-sa/4.0/", &[CC_ATTR, CC_SA]),
    spdx("CC-BY-ND-4.0", "Creative Commons Attribution No Derivatives 4.0 International", &["cc by nd 4.0", "creative commons attribution noderivatives 4.0 international"], "https://creativecommons.org/licenses/by-nd/4.0/", &[CC_ATTR, CC_ND]),
    model("CC-BY-NC-4.0", "Creative Commons Attribution Non Commercial 4.0 International", &["cc by nc 4.0", "creative commons attribution noncommercial 4.0 international"], Some("https://creativecommons.org/licenses/by-nc/4.0/"), CommercialUse::No, NC_NOTE, &[CC_ATTR, CC_NC]),
    model("CC-BY-NC-SA-4.0", "Creative Commons Attribution Non Commercial Share Alike 4.0 International", &["cc by nc sa 4.0", "creative commons attribution noncommercial sharealike 4.0 international"], Some("https://creativecommons.org/licenses/by-nc-sa/4.0/"), CommercialUse::No, NC_NOTE, &[CC_ATTR, CC_NC, CC_SA]),
    model("CC-BY-NC-ND-4.0", "Creative Commons Attribution Non Commercial No Derivatives 4.0 International", &["cc by nc nd 4.0", "creative commons attribution noncommercial noderivatives 4.0 international"], Some("https://creativecommons.org/licenses/by-nc-nd/4.0/"), CommercialUse::No, NC_NOTE, &[CC_ATTR, CC_NC, CC_ND]),
    // Copyleft. Deprecated SPDX ids (GPL-3.0, GPL-3.0+) are aliases of their -only / -or-later forms.
    spdx("GPL-2.0-only", "GNU General Public License v2.0 only", &["gpl-2.0", "gpl-2", "gplv2", "gpl v2"], "https://spdx.org/licenses/GPL-2.0-only.html", GPL),
    spdx("GPL-2.0-or-later", "GNU General Public License v2.0 or later", &["gpl-2.0+", "gpl-2+", "gplv2+"], "https://spdx.org/licenses/GPL-2.0-or-later.html", GPL),
    spdx("GPL-3.0-only", "GNU General Public License v3.0 only", &["gpl-3.0", "gpl-3", "gplv3", "gpl v3"], "https://spdx.org/licenses/GPL-3.0-only.html", GPL),
    spdx("GPL-3.0-or-later", "GNU General Public License v3.0 or later", &["gpl-3.0+", "gpl-3+", "gplv3+"], "https://spdx.org/licenses/GPL-3.0-or-later.html", GPL),
    spdx("LGPL-2.1-only", "GNU Lesser General Public License v2.1 only", &["lgpl-2.1", "lgplv2.1"], "https://spdx.org/licenses/LGPL-2.1-only.html", LGPL),
    spdx("LGPL-2.1-or-later", "GNU Lesser General Public License v2.1 or later", &["lgpl-2.1+"], "https://spdx.org/licenses/LGPL-2.1-or-later.html", LGPL),
    spdx("LGPL-3.0-only", "GNU Lesser General Public License v3.0 only", &["lgpl-3.0", "lgpl-3", "lgplv3"], "https://spdx.org/licenses/LGPL-3.0-only.html", LGPL),
    spdx("LGPL-3.0-or-later", "GNU Lesser General Public License v3.0 or later", &["lgpl-3.0+", "lgplv3+"], "https://spdx.org/licenses/LGPL-3.0-or-later.html", LGPL),
    spdx("AGPL-3.0-only", "GNU Affero General Public License v3.0 only", &["agpl-3.0", "agpl-3", "agplv3"], "https://spdx.org/licenses/AGPL-3.0-only.html", AGPL),
    spdx("AGPL-3.0-or-later", "GNU Affero General Public License v3.0 or later", &["agpl-3.0+", "agplv3+"], "https://spdx.org/licenses/AGPL-3.0-or-later.html", AGPL),
    spdx("MPL-2.0", "Mozilla Public License 2.0", &["mozilla public license 2.0"], "https://spdx.org/licenses/MPL-2.0.html", MPL),
    // Meta Llama.
    model("llama2", "Llama 2 Community License Agreement", &["llama-2", "llama 2", "llama 2 community license"], Some("https://ai.meta.com/llama/license/"), CommercialUse::Conditional, LLAMA_NOTE, LLAMA2),
    model("llama3", "Meta Llama 3 Community License Agreement", &["llama-3", "llama 3", "meta llama 3 community license"], Some("https://llama.meta.com/llama3/license/"), CommercialUse::Conditional, LLAMA_NOTE, LLAMA3),
    model("llama3.1", "Llama 3.1 Community License Agreement", &["llama-3.1", "llama 3.1", "llama3_1", "llama 3.1 community license"], Some("https://llama.meta.com/llama3_1/license/"), CommercialUse::Conditional, LLAMA_NOTE, llama_later!("3.1", "23 July 2024")),
    model("llama3.2", "Llama 3.2 Community License Agreement", &["llama-3.2", "llama 3.2", "llama3_2", "llama 3.2 community license"], Some("https://www.llama.com/llama3_2/license/"), CommercialUse::Conditional, LLAMA_NOTE, llama_later!("3.2", "25 September 2024", eu)),
    model("llama3.3", "Llama 3.3 Community License Agreement", &["llama-3.3", "llama 3.3", "llama3_3", "llama 3.3 community license"], Some("https://www.llama.com/llama3_3/license/"), CommercialUse::Conditional, LLAMA_NOTE, llama_later!("3.3", "6 December 2024")),
    model("llama4", "Llama 4 Community License Agreement", &["llama-4", "llama 4", "llama 4 community license"], Some("https://www.llama.com/llama4/license/"), CommercialUse::Conditional, LLAMA_NOTE, llama_later!("4", "5 April 2025", eu)),
    // Google Gemma.
    model("gemma", "Gemma Terms of Use", &["gemma terms of use", "gemma-terms-of-use", "gemma license"], Some("https://ai.google.dev/gemma/terms"), CommercialUse::Yes, "commercial use allowed; all use is bound by the Gemma Prohibited Use Policy", GEMMA),
    // Responsible AI licences (use-based restrictions in Attachment A).
    model("openrail", "Open RAIL (Responsible AI License)", &["open rail", "open-rail"], Some("https://www.licenses.ai/"), CommercialUse::Yes, RAIL_NOTE, RAIL),
    model("openrail++", "CreativeML Open RAIL++-M License", &["creativeml-openrail++-m", "creativeml open rail++ m license"], Some("https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0/blob/main/LICENSE.md"), CommercialUse::Yes, RAIL_NOTE, RAIL),
    model("creativeml-openrail-m", "CreativeML Open RAIL-M License", &["creativeml open rail m", "creativeml open rail m license"], Some("https://huggingface.co/spaces/CompVis/stable-diffusion-license"), CommercialUse::Yes, RAIL_NOTE, RAIL),
    model("bigscience-openrail-m", "BigScience Open RAIL-M License", &["bigscience open rail m license"], Some("https://www.licenses.ai/blog/2022/8/26/bigscience-open-rail-m-license"), CommercialUse::Yes, RAIL_NOTE, RAIL),
    model("bigscience-bloom-rail-1.0", "BigScience RAIL License v1.0", &["bigscience rail license v1.0", "bloom rail 1.0"], Some("https://huggingface.co/spaces/bigscience/license"), CommercialUse::Yes, RAIL_NOTE, RAIL),
    model("bigcode-openrail-m", "BigCode Open RAIL-M v1 License Agreement", &["bigcode open rail m", "bigcode open rail m v1 license agreement"], Some("https://www.bigcode-project.org/docs/pages/bigcode-openrail/"), CommercialUse::Yes, RAIL_NOTE, RAIL),
    model("deepseek", "DeepSeek License Agreement", &["deepseek-license", "deepseek license", "deepseek license agreement"], Some("https://github.com/deepseek-ai/DeepSeek-LLM/blob/main/LICENSE-MODEL"), CommercialUse::Yes, RAIL_NOTE, RAIL),
    // Others named by the hub.
    model("falcon-180b-license", "Falcon 180B TII License 1.0", &["falcon-180b-tii-license-1.0", "falcon 180b tii license", "falcon 180b tii license version 1.0"], None, CommercialUse::Conditional, "commercial use allowed except Hosting Use, which needs a separate licence from TII; all use is bound by TII's acceptable use policy", FALCON180),
    model("qwen", "Qwen License Agreement", &["qwen license", "qwen-license", "qwen license agreement"], None, CommercialUse::Conditional, QWEN_NOTE, QWEN),
    model("tongyi-qianwen", "Tongyi Qianwen License Agreement", &["tongyi qianwen", "tongyi-qianwen-license", "tongyi qianwen license agreement"], None, CommercialUse::Conditional, QWEN_NOTE, TONGYI),
    model("qwen-research", "Qwen Research License Agreement", &["qwen research license", "qwen research license agreement"], None, CommercialUse::No, NC_NOTE, RESEARCH_ONLY),
    model("tongyi-qianwen-research", "Tongyi Qianwen Research License Agreement", &["tongyi qianwen research license agreement"], None, CommercialUse::No, NC_NOTE, RESEARCH_ONLY),
    model("mnpl", "Mistral AI Non-Production License", &["mnpl-0.1", "mistral ai non production license", "mistral-ai-non-production-license"], Some("https://mistral.ai/licenses/MNPL-0.1.md"), CommercialUse::No, "non-production use only", MNPL),
    model("mistral-ai-research", "Mistral AI Research License", &["mrl", "mrl-0.1", "mistral ai research license"], Some("https://mistral.ai/licenses/MRL-0.1.md"), CommercialUse::No, "research use only", MRL),
    model("apple-ascl", "Apple Sample Code License", &["apple sample code license", "apple-sample-code-license"], None, CommercialUse::Yes, "commercial use allowed", ASCL),
    model("apple-amlr", "Apple Machine Learning Research Model License", &["apple machine learning research model license", "apple-amlr-license"], None, CommercialUse::No, "non-commercial research use only", RESEARCH_ONLY),
];

/// Lowercase, every run of characters other than ASCII letters, digits, `.` and `+` becomes one
/// space, trimmed. Makes "Apache License,\n  Version 2.0" and "apache license version 2.0" equal.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '+' {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c.to_ascii_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// The entry whose id or alias equals `id` (ASCII case-insensitive).
pub fn lookup(id: &str) -> Option<&'static LicenseInfo> {
    let id = id.trim();
    LICENSES.iter().find(|l| {
        l.id.eq_ignore_ascii_case(id) || l.aliases.iter().any(|a| a.eq_ignore_ascii_case(id))
    })
}

/// The entry whose name, id or an alias equals `name` after [`normalise`] (a looser match for
/// free-form names such as "Apache License, Version 2.0" or "Llama 3.1 Community License").
pub fn lookup_name(name: &str) -> Option<&'static LicenseInfo> {
    let wanted = normalise(name);
    if wanted.is_empty() {
        return None;
    }
    let wanted_stripped = wanted.strip_prefix("the ").unwrap_or(&wanted);
    LICENSES.iter().find(|l| {
        let n = normalise(l.name);
        n == wanted
            || n == wanted_stripped
            || normalise(l.id) == wanted
            || l.aliases
                .iter()
                .any(|a| normalise(a) == wanted || normalise(a) == wanted_stripped)
    })
}

/// The canonical spelling of a known id or alias, e.g. `apache-2.0` → `Apache-2.0`,
/// `GPL-3.0` → `GPL-3.0-only`, `LLAMA3.1` → `llama3.1`.
pub fn canonical_id(id: &str) -> Option<&'static str> {
    lookup(id).map(|l| l.id)
}
