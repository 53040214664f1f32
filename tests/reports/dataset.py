"""The seeded fourth quarter of 2026 (it ends on 31 December, a holiday), with the neighbours that must stay out."""

from __future__ import annotations

from dataclasses import dataclass

from tests.reports.seed import Spec, msk

ANNA = {"name": "Смирнова Анна", "email": "anna@mail.example", "phone": ""}
BORIS = {"name": "Волков Борис", "email": "boris@mail.example", "phone": ""}
CLARA = {"name": "Орлова Клара", "email": "", "phone": "+7 (917) 111-22-33"}
CLARA_AGAIN = {"name": "Орлова К.", "email": "", "phone": "8 917 111 22 33"}

AS_OF = msk(2027, 1, 11, 9, 0)  # the first working day after the quarter: when curmail makes the report
Q4_START, Q4_END = msk(2026, 10, 1), msk(2027, 1, 1)


@dataclass
class Dataset:
    appeals: dict[str, Spec]
    refutations: dict[str, Spec]
    requests: dict[str, Spec]
    outside: list[Spec]
    earlier: dict[str, Spec]  # appeals before the quarter that later ones repeat (or not)
    expected_repeats: dict[str, list[str]]  # appeal -> the earlier appeals it repeats (by label)

    def all(self) -> list[Spec]:
        return [*self.outside, *self.appeals.values(), *self.refutations.values(), *self.requests.values()]


def dataset() -> Dataset:
    earlier_boris = Spec("appeal", msk(2026, 3, 1, 10), "59fz", "социальная защита", due=msk(2026, 3, 31, 18),
                         closed=msk(2026, 3, 20, 12), applicant=BORIS)
    earlier_clara = Spec("appeal", msk(2025, 11, 1, 10), "59fz", "образование", due=msk(2025, 12, 1, 18),
                         closed=msk(2025, 11, 20, 12), applicant=CLARA)
    outside = [
        earlier_boris, earlier_clara,
        Spec("appeal", msk(2026, 9, 30, 23, 59), "59fz", "ЖКХ", due=msk(2026, 10, 30, 18)),  # Q3's last minute
        Spec("appeal", msk(2027, 1, 1, 0, 30), "pos", "ЖКХ", due=msk(2027, 1, 12, 18)),  # Q1 2027's first hour
        Spec("refutation", msk(2026, 9, 15, 10), draft_after_h=1, due=msk(2026, 9, 15, 13)),
        Spec("generic", msk(2026, 11, 1, 10), due=msk(2026, 11, 2, 18)),
    ]
    appeals = {
        "a1": Spec("appeal", msk(2026, 10, 5, 10), "59fz", "ЖКХ", due=msk(2026, 11, 4, 18),
                   closed=msk(2026, 10, 20, 11), applicant=ANNA, address="ул. Советская, д. 12",
                   outcome="Кровля отремонтирована"),
        "a2": Spec("appeal", msk(2026, 10, 12, 9), "59fz", "ЖКХ", due=msk(2026, 11, 11, 18),
                   closed=msk(2026, 11, 20, 16), store_on_time=False, address="ул. Ленина, 5"),
        "a3": Spec("appeal", msk(2026, 11, 2, 9), "59fz", "дороги и транспорт", due=msk(2026, 12, 30, 18),
                   closed=msk(2026, 12, 25, 10), extended=True, address="ул. Ленина, 7"),
        "a4": Spec("appeal", msk(2026, 11, 10, 9), "pos", "благоустройство", due=msk(2026, 11, 10, 17),
                   closed=msk(2026, 11, 10, 15)),
        "a5": Spec("appeal", msk(2026, 12, 1, 9), "pos", "дороги и транспорт", due=msk(2026, 12, 2, 18),
                   closed=msk(2026, 12, 5, 12)),
        "a6": Spec("appeal", msk(2026, 12, 10, 9), "incident", "ЖКХ", due=msk(2026, 12, 11, 9), applicant=ANNA),
        "a7": Spec("appeal", msk(2026, 12, 20, 9), "incident", "благоустройство", due=msk(2027, 1, 19, 18),
                   address="Советская улица, 12"),
        "a8": Spec("appeal", msk(2026, 12, 31, 22, 30), "voice", "ЖКХ", due=msk(2027, 1, 30, 18),
                   address="Советская ул., д. 12"),  # received on the holiday that ends the quarter
        "a9": Spec("appeal", msk(2026, 10, 1, 0, 30), "other", None, due=msk(2026, 10, 31, 18),
                   closed=msk(2026, 10, 2, 10)),
        "a10": Spec("appeal", msk(2026, 11, 15, 9), "internet", "экология", due=msk(2026, 11, 16, 18),
                    closed=msk(2026, 11, 16, 12)),
        "a11": Spec("appeal", msk(2026, 12, 15, 9), "pos", "социальная защита", due=msk(2026, 12, 16, 18),
                    closed=msk(2026, 12, 16, 10), applicant=BORIS),
        "a12": Spec("appeal", msk(2026, 12, 5, 9), "59fz", "образование", due=msk(2027, 1, 11, 18),
                    applicant=CLARA_AGAIN),
    }
    refutations = {
        "r1": Spec("refutation", msk(2026, 10, 7, 10), due=msk(2026, 10, 7, 13), draft_after_h=2, approved_version=1,
                   press_after_h=4, closed=msk(2026, 10, 8, 10), outcome="published"),
        "r2": Spec("refutation", msk(2026, 11, 3, 14), due=msk(2026, 11, 3, 17), draft_after_h=5, approved_version=2,
                   press_after_h=9),
        "r3": Spec("refutation", msk(2026, 11, 20, 11), due=msk(2026, 11, 20, 14)),
        "r4": Spec("refutation", msk(2026, 12, 29, 23), due=msk(2026, 12, 30, 2), draft_after_h=1),
    }
    requests = {
        "q1": Spec("request", msk(2026, 10, 10, 10), due=msk(2026, 10, 12, 18), closed=msk(2026, 10, 12, 12)),
        "q2": Spec("request", msk(2026, 11, 11, 10), due=msk(2026, 11, 13, 18), closed=msk(2026, 11, 14, 10)),
        "q3": Spec("request", msk(2026, 12, 1, 10), due=msk(2026, 12, 3, 18)),
        "q4": Spec("request", msk(2026, 12, 30, 10), due=msk(2027, 1, 12, 18)),
    }
    # Worked out by hand: a6 is Anna again (a1, 66 days before); a8 is a1's address and topic (a7 has the
    # address but another topic); a11 is Boris again (289 days after March); a12 is Clara again, but
    # 399 days after her first appeal, outside the one-year window.
    expected = {"a6": ["a1"], "a8": ["a1"], "a11": ["earlier_boris"]}
    earlier = {"earlier_boris": earlier_boris, "earlier_clara": earlier_clara}
    return Dataset(appeals, refutations, requests, outside, earlier, expected)
