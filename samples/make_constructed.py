"""Write the CONSTRUCTED sample files (formats documented by each dataset; text written for bioqwen).

Run from the repository root: `.venv/bin/python samples/make_constructed.py`. Deterministic; the
real Qwen tokenizer sizes the few records meant to trip the length filters and the truncation.
No sentence here comes from the real datasets except MedChatZH line 1 (the authors' notebook
print-out of one real record, see medchatzh/SOURCES.md).
"""

from __future__ import annotations

import ast
import csv
import json
from pathlib import Path

from bioqwen.data.tokenizer import load_qwen_tokenizer

HERE = Path(__file__).resolve().parent
TOK = load_qwen_tokenizer()


def ntok(text: str) -> int:
    return len(TOK(text, add_special_tokens=False)["input_ids"])


# Topic -> (questions, sentences); answers are paragraphs of a topic's sentences.
ZH = {
    "hypertension": (
        ["高血压患者平时饮食要注意什么？", "血压150/95需要吃药吗？", "降压药可以自己停吗？"],
        [
            "高血压是以体循环动脉血压增高为主要特征的临床综合征。",
            "长期血压控制不佳会损害心、脑、肾等重要器官。",
            "建议每天早晚各测一次血压，并记录下来，复诊时带给医生看。",
            "饮食上应限制食盐摄入，每日不超过五克，少吃腌制食品。",
            "规律的有氧运动，如快走、游泳，每周累计至少一百五十分钟。",
            "如出现剧烈头痛、胸闷、视物模糊，应及时到医院就诊。",
            "降压药物需要在医生指导下长期服用，血压正常后也不可自行停药。",
        ],
    ),
    "diabetes": (
        ["二型糖尿病吃二甲双胍胃不舒服怎么办？", "空腹血糖7.8算糖尿病吗？", "低血糖了应该怎么处理？"],
        [
            "糖尿病患者应定期检测空腹血糖和糖化血红蛋白。",
            "二甲双胍是二型糖尿病的一线用药，常见副作用是胃肠道不适。",
            "随餐服用或换用缓释剂型，多数人的胃部不适可以减轻。",
            "空腹血糖两次达到或超过7.0毫摩尔每升，即可诊断为糖尿病。",
            "低血糖时可口服含糖饮料或几颗糖果，十五分钟后复测血糖。",
            "控制总热量、主食粗细搭配，有助于平稳血糖。",
        ],
    ),
    "hpylori": (
        ["幽门螺杆菌阳性一定要治疗吗？", "四联疗法吃完多久复查？"],
        [
            "幽门螺杆菌感染与慢性胃炎、消化性溃疡和胃癌密切相关。",
            "根除治疗通常采用含铋剂的四联方案，疗程为十四天。",
            "治疗期间要按时按量服药，漏服会降低根除率。",
            "停药四周后应复查碳十三或碳十四呼气试验，判断是否根除。",
            "家人共同进餐时建议使用公筷，减少交叉感染。",
        ],
    ),
    "fever": (
        ["孩子发烧39度怎么办？", "布洛芬和对乙酰氨基酚能一起吃吗？"],
        [
            "儿童发热时首先要注意补充水分，穿着不要过多。",
            "体温超过三十八点五度或孩子明显不适时，可以使用退热药。",
            "布洛芬和对乙酰氨基酚不宜频繁交替使用，以免剂量出错。",
            "若孩子精神差、持续高热超过三天或出现抽搐，应尽快就医。",
        ],
    ),
    "insomnia": (
        ["经常失眠怎么调理？", "长期吃安眠药有什么危害？"],
        [
            "失眠的原因很多，包括精神压力、不良作息和某些躯体疾病。",
            "睡前一小时避免使用手机，不饮用咖啡和浓茶，卧室保持安静、黑暗。",
            "认知行为疗法是慢性失眠的首选非药物治疗。",
            "安眠药应短期、按需使用，长期服用可能产生依赖和次日困倦。",
        ],
    ),
    "anemia": (
        ["缺铁性贫血吃什么补得快？", "吃铁剂大便发黑正常吗？"],
        [
            "缺铁性贫血常见于月经量多的女性和生长发育期的儿童。",
            "红肉、动物肝脏和血制品中的血红素铁吸收率较高。",
            "补铁的同时摄入维生素C可以促进铁的吸收，浓茶则会妨碍吸收。",
            "口服铁剂可能引起便秘和黑便，这是铁剂的正常反应，一般不必担心。",
            "补铁后要复查血常规和铁蛋白，贫血纠正后还需继续补充一段时间。",
        ],
    ),
    "thyroid": (
        ["甲状腺结节3类严重吗？", "甲状腺结节需要穿刺吗？"],
        [
            "甲状腺结节大多数是良性的，可通过超声检查评估其恶性风险。",
            "对于分级较高或直径较大的结节，医生可能建议细针穿刺活检。",
            "良性结节一般每六到十二个月复查一次超声即可。",
        ],
    ),
    "lumbar": (
        ["腰椎间盘突出腿麻怎么办？", "腰突一定要做手术吗？"],
        [
            "腰椎间盘突出症的典型表现是腰痛伴下肢放射痛或麻木。",
            "急性期应适当卧床休息，避免弯腰搬重物和久坐。",
            "多数患者经过药物、理疗和康复锻炼可以明显好转。",
            "保守治疗三个月无效，或出现大小便障碍、下肢无力时需考虑手术。",
        ],
    ),
    "rhinitis": (
        ["过敏性鼻炎一到春天就犯怎么办？"],
        [
            "过敏性鼻炎常在接触花粉、尘螨后出现打喷嚏、流清涕和鼻痒。",
            "鼻用糖皮质激素是中重度过敏性鼻炎的一线治疗，需要规律使用。",
            "花粉季节外出可佩戴口罩，回家后用生理盐水冲洗鼻腔。",
        ],
    ),
}

EN = {
    "thyroid": (
        "Hi doctor, I am 34 and take levothyroxine 50 mcg. My TSH is 2.4 but I still feel "
        "tired and my periods are irregular. Should the dose be changed?",
        [
            "Hi. Thanks for the query.",
            "A TSH of 2.4 on levothyroxine is within the usual target range.",
            "Fatigue and irregular periods have many causes besides the thyroid, such as "
            "anemia, vitamin D deficiency or polycystic ovaries.",
            "Please get a complete blood count, ferritin and a pelvic ultrasound done.",
            "Take the tablet on an empty stomach, thirty minutes before breakfast, and keep "
            "calcium and iron supplements four hours apart from it.",
            "Revert back with the reports to an endocrinologist online for further follow up.",
        ],
    ),
    "chest": (
        "Hello doctor, I get a burning pain in my chest after meals, especially at night "
        "when I lie down. I am 45 and a smoker. Is it my heart?",
        [
            "Hi. I read your query and understand your concern.",
            "Burning pain after meals that is worse on lying down is typical of acid reflux.",
            "However, at 45 and as a smoker, a cardiac cause must be excluded first.",
            "Please get an ECG and a treadmill test done.",
            "Avoid heavy meals at night, raise the head end of the bed and stop smoking.",
            "A course of a proton pump inhibitor before breakfast for four weeks usually helps.",
            "If the pain comes with sweating, breathlessness or spreads to the arm, go to an "
            "emergency department at once.",
        ],
    ),
    "rash": (
        "Hi, my 6-year-old son has an itchy red rash on both elbows and behind the knees "
        "for two months. Moisturizer helps a little. What is it?",
        [
            "Hi. From the description, this looks like atopic dermatitis (eczema).",
            "Apply a fragrance-free emollient twice a day, right after a lukewarm bath.",
            "A mild topical steroid such as hydrocortisone 1 % can be used on the red patches "
            "for up to one week.",
            "Keep his nails short and dress him in cotton clothes.",
            "If the patches ooze or crust, an infection may have set in and he should be seen "
            "by a pediatrician.",
        ],
    ),
    "knee": (
        "Hello doctor, I am 58 and my right knee hurts when climbing stairs, with stiffness "
        "in the morning for about ten minutes. X-ray shows reduced joint space.",
        [
            "Hi. Your symptoms and X-ray suggest osteoarthritis of the knee.",
            "Weight reduction and quadriceps strengthening exercises are the mainstay of "
            "treatment.",
            "Paracetamol or a topical anti-inflammatory gel can be used for pain.",
            "Avoid squatting and sitting cross-legged.",
            "Physiotherapy for six weeks usually improves both pain and function.",
        ],
    ),
    "cough": (
        "Hi, I have had a dry cough for five weeks after a cold. No fever. I use an inhaler "
        "for asthma sometimes. What should I do?",
        [
            "Hi. A cough lasting more than three weeks after a cold is called post-infectious "
            "cough.",
            "In a person with asthma, it may also mean that the asthma is not well controlled.",
            "Please get a chest X-ray and a spirometry test done.",
            "Regular use of an inhaled steroid for a few weeks often settles the cough.",
            "If you notice blood in the sputum, weight loss or night sweats, consult a chest "
            "physician in person.",
        ],
    ),
    "migraine": (
        "Hello doctor, I get one-sided throbbing headaches twice a month with nausea and "
        "I cannot stand light. Painkillers work only sometimes.",
        [
            "Hi. Your headaches have the typical features of migraine.",
            "Take the pain medicine early, at the first sign of the headache, not after it "
            "has built up.",
            "A triptan such as sumatriptan can be used if simple painkillers fail.",
            "Keep a headache diary to find triggers like missed meals, poor sleep or stress.",
            "If the headaches become more frequent than four a month, preventive treatment "
            "can be discussed with a neurologist.",
        ],
    ),
}


def zh_answer(topic: str, paragraphs: int, start: int = 0) -> str:
    sentences = ZH[topic][1]
    per = max(1, len(sentences) // paragraphs)
    out = []
    for p in range(paragraphs):
        chunk = sentences[(start + p * per) % len(sentences) :][:per] or sentences[:per]
        out.append("".join(chunk))
    return "\n".join(out)


def all_zh_sentences() -> list[str]:
    return [s for _, sentences in ZH.values() for s in sentences]


def grow(prefix: str, sentences: list[str], target: int, below: int | None = None) -> str:
    """Append sentences (cycling) until the text reaches `target` tokens, staying < `below`."""
    text, i = prefix, 0
    while ntok(text) < target:
        candidate = text + sentences[i % len(sentences)]
        i += 1
        if below is not None and ntok(candidate) >= below:
            continue
        text = candidate
        if i > 10 * len(sentences) + 200:
            break
    return text


def long_paragraphs(target: int, per_paragraph: int = 4) -> str:
    """Multi-paragraph Chinese answer of about `target` tokens."""
    sentences = all_zh_sentences()
    paragraphs: list[str] = []
    i = 0
    while ntok("\n".join(paragraphs)) < target:
        paragraphs.append("".join(sentences[(i + k) % len(sentences)] for k in range(per_paragraph)))
        i += per_paragraph
    return "\n".join(paragraphs)


def medchatzh() -> list[dict[str, str]]:
    exemplar = (HERE / "medchatzh" / "EXEMPLAR_record_from_bioqwen_notebook_output.txt").read_text(
        encoding="utf-8"
    )
    real = ast.literal_eval(exemplar[exemplar.index("{") :])
    rows = [real]
    for topic, (questions, _) in ZH.items():
        for k, question in enumerate(questions):
            rows.append({"instruction": question, "input": "", "output": zh_answer(topic, 2 + k % 2, k)})
    rows.append(
        {
            "instruction": "医生您好，我的情况如下，请帮我看看。",
            "input": "女，32岁，最近三个月乏力、头晕，月经量偏多，血常规提示血红蛋白95克每升。",
            "output": zh_answer("anemia", 3),
        }
    )
    rows.append(
        {
            "instruction": "What should I eat if I have high blood pressure?",
            "input": "",
            "output": "Limit salt to less than 5 g a day and eat more vegetables, fruit and whole "
            "grains.\nCut down on alcohol and processed meat, and keep a healthy weight.",
        }
    )
    # Duplicates: one exact, one differing only in width, spacing and punctuation.
    rows.append(dict(rows[1]))
    near = dict(rows[2])
    near["output"] = near["output"].replace("，", ", ").replace("。", ". ")
    rows.append(near)
    # Length filter: answer >= 512 tokens; prompt >= 512 tokens.
    rows.append({"instruction": "高血压、糖尿病和贫血的日常管理有哪些要点？请详细说明。", "input": "",
                 "output": long_paragraphs(700)})  # fmt: skip
    rows.append({"instruction": "请根据以下病史给出建议：", "input": grow("", all_zh_sentences(), 560),
                 "output": zh_answer("lumbar", 2)})  # fmt: skip
    # Truncation: prompt and answer each just under 512 tokens pass the length filter but
    # exceed 1024 together with the system prompt: one multi-paragraph answer (paragraph cut),
    # one single-paragraph answer (sentence fallback).
    history = "患者病史：" + grow("", all_zh_sentences()[5:], 478, below=490)
    sentences = all_zh_sentences()
    paragraphs = ""
    for i in range(0, 3 * len(sentences), 3):
        candidate = (paragraphs + "\n" if paragraphs else "") + "".join(
            sentences[(i + k) % len(sentences)] for k in range(3)
        )
        if ntok(candidate) >= 480:
            break
        paragraphs = candidate
    paragraphs = grow(paragraphs, sentences[3:], 500, below=510)
    rows.append({"instruction": "请结合下面的病史，给出分段的详细建议。", "input": history,
                 "output": paragraphs})  # fmt: skip
    one_paragraph = grow("", all_zh_sentences()[9:], 500, below=510)
    rows.append({"instruction": "请结合下面的病史，一段话说明注意事项。", "input": history,
                 "output": one_paragraph})  # fmt: skip
    return rows


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    rows = medchatzh()
    write_jsonl(HERE / "medchatzh" / "MedChatZH_train.sample.jsonl", rows)
    # Scores keyed by record id (medchatzh:<line>): three below 2.80, line 20 left unscored.
    low = {10, 15, 18}
    scores = [
        {"id": f"medchatzh:{n}", "score": round(1.9 + 0.05 * n if n in low else 3.0 + 0.1 * (n % 7), 3)}
        for n in range(1, len(rows) + 1)
        if n != 20
    ]
    write_jsonl(HERE / "medchatzh" / "scores.sample.jsonl", scores)

    # cMedQA2: question.csv, answer.csv, train_candidates.txt (pos/neg pairs) + test (label).
    questions, answers = [], []
    qid, aid = 45619783, 103412
    for topic, (qs, _) in ZH.items():
        for k, question in enumerate(qs[:2]):
            qid += 137
            questions.append((qid, question))
            for j in range(1 + (k + len(topic)) % 2):
                aid += 29
                body = zh_answer(topic, 1 + j, k + j + 1).replace("\n", "")
                answers.append((aid, qid, f"你好，{body}祝早日康复。"))
    cm = HERE / "cmedqa2"
    with open(cm / "question.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question_id", "content"])
        writer.writerows(questions)
    with open(cm / "answer.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ans_id", "question_id", "content"])
        writer.writerows(answers)
    train_q = {q for q, _ in questions[:-3]}
    with open(cm / "train_candidates.txt", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question_id", "pos_ans_id", "neg_ans_id"])
        for i, (a, q, _) in enumerate(answers):
            if q in train_q:
                writer.writerow([q, a, answers[(i + 5) % len(answers)][0]])
    with open(cm / "test_candidates.txt", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["question_id", "ans_id", "cnt", "label"])
        for q, _ in questions[-3:]:
            for cnt, (a, q2, _) in enumerate(answers[:4]):
                writer.writerow([q, a, cnt, 0])
            for a, q2, _ in answers:
                if q2 == q:
                    writer.writerow([q, a, 4, 1])

    # webMedQA: ID, label, category, question, answer; 1 positive + 4 negatives per question.
    departments = {"hypertension": "心血管内科", "diabetes": "内分泌科", "hpylori": "消化内科",
                   "fever": "儿科", "insomnia": "神经内科", "anemia": "血液科",
                   "thyroid": "内分泌科", "lumbar": "骨科", "rhinitis": "耳鼻喉科"}  # fmt: skip
    positives = [(t, ZH[t][0][0], zh_answer(t, 2, 1)) for t in ZH]
    lines = []
    for i, (topic, question, answer) in enumerate(positives):
        qid = 1202100 + 7 * i
        lines.append([qid, 1, departments[topic], question, "您好！" + answer.replace("\n", "")])
        for k in range(1, 5):
            other = positives[(i + k) % len(positives)][2].replace("\n", "")
            lines.append([qid, 0, departments[topic], question, other])
    lines.append(list(lines[0]))  # a re-scraped duplicate of the first positive
    with open(HERE / "webmedqa" / "medQA.train.sample.txt", "w", encoding="utf-8") as handle:
        for row in lines:
            handle.write("\t".join(str(x) for x in row) + "\n")

    # iCliniq: JSON array; answer_chatgpt / answer_chatdoctor are shorter paraphrases.
    items = []
    for topic, (question, sentences) in EN.items():
        items.append(
            {
                "input": question,
                "answer_icliniq": "\n".join(
                    " ".join(sentences[i : i + 2]) for i in range(0, len(sentences), 2)
                ),
                "answer_chatgpt": " ".join(sentences[1:3]),
                "answer_chatdoctor": sentences[1],
            }
        )
    every = [s for _, sentences in EN.values() for s in sentences[1:]]
    items.append(
        {
            "input": "Hi doctor, I have high blood pressure, knee pain, eczema and migraine. "
            "Please explain in detail how to manage all of them together.",
            "answer_icliniq": "\n\n".join(" ".join(every[i : i + 3]) for i in range(0, len(every), 3))
            * 3,
            "answer_chatgpt": every[0],
            "answer_chatdoctor": every[1],
        }
    )
    (HERE / "icliniq" / "iCliniq.sample.json").write_text(
        json.dumps(items, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )

    # Self-cognition in the LLaMA-Factory style the authors used (<NAME>, <AUTHOR>).
    identity = [
        ("你好", "您好，我是 <NAME>，一个由 <AUTHOR> 开发的生物医学 AI 助手，很高兴认识您。请问我能为您做些什么？"),
        ("你是谁？", "我是 <NAME>，由 <AUTHOR> 基于通义千问小模型微调而成，擅长生物医学命名实体识别、关系抽取、翻译和医学问答。"),
        ("你叫什么名字？", "我叫 <NAME>，是 <AUTHOR> 开发的生物医学智能助手。"),
        ("你能代替医生吗？", "不能。我是 <NAME>，只能提供一般性的健康知识，诊断和治疗请以执业医生的意见为准。"),
        ("Who are you?", "I am <NAME>, a biomedical AI assistant developed by <AUTHOR>. How can I help you today?"),
        ("What can you do?", "I am <NAME>. I can recognise biomedical entities and relations, translate between Chinese and English, and answer general medical questions."),
        ("Are you ChatGPT?", "No. I am <NAME>, a small bilingual model fine-tuned by <AUTHOR> from Qwen."),
        ("Hello", "Hello! I am <NAME>, an AI assistant by <AUTHOR>. What would you like to know?"),
    ]  # fmt: skip
    (HERE / "self_cognition" / "self_cognition.json").write_text(
        json.dumps([{"instruction": q, "input": "", "output": a} for q, a in identity],
                   ensure_ascii=False, indent=1) + "\n", encoding="utf-8",
    )  # fmt: skip


if __name__ == "__main__":
    main()
