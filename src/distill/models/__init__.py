"""LightningModules: the teacher and the students, all trained by one shared step and loss."""

from distill.models.base import ClassifierModule
from distill.models.bilstm import BiLSTMModule
from distill.models.logistic import LogisticModule
from distill.models.teacher import TeacherModule

__all__ = ["BiLSTMModule", "ClassifierModule", "LogisticModule", "TeacherModule"]
